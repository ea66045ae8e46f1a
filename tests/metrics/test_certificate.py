"""check_equivariance: exact where full-exact must be, not where it cannot be, and the user's model untouched."""
import doctest

import pytest
import torch
import torch.nn as nn
import torchvision

import fullconv
from fullconv import check_equivariance, convert
from fullconv.metrics import certificate
from fullconv.models import small_resnet


pytestmark = pytest.mark.usefixtures("one_thread")


def _net(border: str) -> nn.Module:
    return convert(small_resnet(in_channels=3, width=4), border)


def test_doctests():
    assert doctest.testmod(certificate, raise_on_error=False).failed == 0


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_full_exact_is_exact_on_stride_and_not_in_between(train):
    cert = check_equivariance(_net("full-exact").train(train), (2, 3, 8, 8), calibrate=True)
    assert cert.total_stride == (8, 8) and cert.output == "invariant" and cert.mode == ("train" if train else "eval")
    assert [c.shift for c in cert.checks] == [(1, 1), (4, 4), (8, 8), (16, 16)]  # the default shifts
    assert cert.exact_on_stride and cert.max_error() <= 1e-9
    assert all(c.first_break is None for c in cert.checks if c.on_stride)
    # shifts between the stride multiples move the content off the strided layers' sampling points
    assert cert.max_error(on_stride=False) > 1e-6
    assert "not on its grid" in cert.checks[0].first_break
    assert cert.sensitivity > 1e-2  # the logits depend on the content: the errors mean something


@pytest.mark.parametrize("border", ["same", "full"])
def test_zero_padding_is_not_exact_and_the_first_break_is_named(border):
    net = _net(border).eval()
    cert = check_equivariance(net, (2, 3, 8, 8), shifts=[8], calibrate=True)
    assert not cert.exact_on_stride and cert.error(8) > 1e-6
    layer = cert.checks[0].first_break.split(" ")[0]
    assert layer in dict(net.named_modules())
    if border == "same":
        # the first layer's zero padding equals the zero canvas; the BatchNorm shift then makes the
        # background non-zero, and a later zero padding draws a frame the content moves against
        assert layer != "conv1"


def test_map_outputs_are_checked_for_equivariance_on_their_grid():
    torch.manual_seed(0)
    layers = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8))
    cert = check_equivariance(convert(layers, "full-exact").eval(), (1, 3, 8, 8), shifts=[2, 4, 8], calibrate=True)
    assert cert.output == "equivariant" and cert.total_stride == (4, 4)
    # 2 px is off the output grid, and neither whole-element move (0 or 1 element) matches
    assert cert.exact_shifts == ((4, 4), (8, 8)) and cert.error(2) > 1e-6
    # control: zero padding. same keeps a layer's own padding (none here), so the control is the
    # same layers with padding 1, the weights shared
    padded = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
    padded.load_state_dict(layers.state_dict())
    same = check_equivariance(convert(padded, "same").eval(), (1, 3, 8, 8), shifts=[4], calibrate=True)
    assert same.error(4) > 1e-6


def test_the_model_is_left_unchanged():
    model = _net("full-exact").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check_equivariance(model, (2, 3, 8, 8), shifts=[8], calibrate=True)
    after = model.state_dict()
    assert model.training and next(model.parameters()).dtype == torch.float32
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model._forward_hooks and all(not m._forward_hooks for m in model.modules())


def test_total_stride_is_inferred_from_the_deepest_path():
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(num_classes=4)
    cert = check_equivariance(convert(model, "full-exact").eval(), (1, 3, 8, 8), shifts=[32])
    assert cert.total_stride == (32, 32)
    given = check_equivariance(_net("full-exact").eval(), (1, 3, 8, 8), shifts=[8], total_stride=(4, 8))
    assert given.total_stride == (4, 8) and given.checks[0].on_stride


def test_train_mode_dropout_uses_the_same_mask_in_every_forward():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
                          nn.Linear(8, 4))
    cert = check_equivariance(convert(model, "full-exact").train(), (2, 3, 8, 8), shifts=[3])
    assert cert.exact_shifts == ((3, 3),)


def test_summary_lists_every_shift():
    cert = check_equivariance(_net("full-exact").eval(), (1, 3, 8, 8), shifts=[4, 8], calibrate=True)
    text = str(cert)
    assert "total stride (8, 8)" in text and "BatchNorm calibrated" in text
    assert "shift (8, 8)" in text and "stride multiple" in text and "NOT exact; first break:" in text


def test_exception():
    net = _net("full-exact")
    with pytest.raises(ValueError, match="input_shape must be"):
        check_equivariance(net, (3, 8))
    with pytest.raises(ValueError, match="one entry per spatial dim"):
        check_equivariance(net, (1, 3, 8, 8), shifts=[(1, 2, 3)])
    with pytest.raises(ValueError, match="non-negative"):
        check_equivariance(net, (1, 3, 8, 8), shifts=[-8])
    with pytest.raises(KeyError, match="was not checked"):
        check_equivariance(net.eval(), (1, 3, 8, 8), shifts=[8]).error(4)
    assert fullconv.check_equivariance is check_equivariance


def test_named_shift_lists_cover_every_residue():
    every = certificate._every_shift((8, 8))
    assert len(every) == 24 and len(set(every)) == 24
    assert {s[0] for s in every} == set(range(9)) and {s[1] for s in every} == set(range(9))
    assert (3, 0) in every and (0, 8) in every and (5, 5) in every and (0, 0) not in every
    assert certificate._every_shift((2, 4)) == [(1, 0), (2, 0), (0, 1), (0, 2), (0, 3), (0, 4),
                                               (1, 1), (2, 2), (2, 3), (2, 4)]
    product = certificate._product_shifts((8, 8))
    assert len(product) == 80 and (0, 0) not in product and (7, 3) in product
    with pytest.raises(ValueError, match="shifts='all' is not known; use one of"):
        check_equivariance(_net("full-exact"), (1, 3, 8, 8), shifts="all")


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_polyphase_full_exact_is_certified_for_every_shift(train):
    net = convert(small_resnet(in_channels=3, width=4), "full-exact", downsample="polyphase").train(train)
    cert = check_equivariance(net, (2, 3, 8, 8), shifts="every", calibrate=True)
    assert len(cert.checks) == 24 and cert.all_exact and cert.max_error(on_stride=None) <= 1e-9
    assert all(c.first_break is None for c in cert.checks)  # every layer, not only the logits
    assert cert.sensitivity > 1e-2
    # the negative control: the same net with fixed-phase strides breaks at the first strided
    # layer whose grid does not hold the shift, and says so
    strided = check_equivariance(_net("full-exact").train(train), (2, 3, 8, 8), shifts="every", calibrate=True)
    assert not strided.all_exact and strided.max_error(on_stride=False) > 1e-3
    assert "not on its grid, and no whole-element move matches" in strided.checks[0].first_break


def test_polyphase_map_outputs_move_by_a_whole_element_at_every_shift():
    torch.manual_seed(0)
    layers = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8))
    poly = check_equivariance(convert(layers, "full-exact", downsample="polyphase").eval(), (2, 3, 8, 8),
                              shifts="every", calibrate=True)
    assert poly.output == "equivariant" and poly.total_stride == (4, 4)
    assert poly.all_exact and poly.max_error(on_stride=None) <= 1e-9
    strided = check_equivariance(convert(layers, "full-exact").eval(), (2, 3, 8, 8), shifts="every",
                                 calibrate=True)
    assert not strided.all_exact and strided.exact_on_stride
