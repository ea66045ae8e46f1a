"""convert(..., downsample="polyphase"): full-exact nets invariant to every canvas shift, not only stride multiples.

Checked in float64 with BatchNorm calibrated on canvases; ``downsample="strided"`` and the
``full`` border (bias and BatchNorm at the border) are the negative controls that show the
check fails where the construction does not hold.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

import fullconv
from fullconv.layers.polyphase import choose_phase, select_phase, take_phase
from fullconv.metrics.certificate import check_equivariance
from fullconv.models import create


def _axis_shifts(nd: int, amounts) -> list[tuple[int, ...]]:
    return [tuple(k if d == axis else 0 for d in range(nd)) for axis in range(nd) for k in amounts]


def _certify(net: nn.Module, shape, amounts, train: bool = False):
    net.train(train)
    return check_equivariance(net, shape, shifts=_axis_shifts(len(shape) - 2, amounts), calibrate=True)


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("downsample", ["polyphase", "blur-polyphase"])
def test_resnet18_full_exact_polyphase_is_invariant_to_every_shift(resnet18, downsample, train):
    net = fullconv.convert(resnet18, "full-exact", downsample=downsample)
    cert = _certify(net, (2, 3, 16, 16), range(1, 33, 3), train)
    assert cert.total_stride == (32, 32)
    assert cert.sensitivity > 1e-3  # the logits depend on the content, so the errors mean something
    assert max(c.error for c in cert.checks) < 1e-9, cert.summary()


def test_strided_and_full_border_are_the_negative_controls(resnet18):
    strided = _certify(fullconv.convert(resnet18, "full-exact"), (2, 3, 16, 16), (1, 5))
    assert min(c.error for c in strided.checks) > 1e-3  # off-stride shifts change the logits
    full = _certify(fullconv.convert(resnet18, "full", downsample="polyphase"), (2, 3, 16, 16), (1, 5))
    assert max(c.error for c in full.checks) > 1e-3  # bias and BatchNorm put a border back


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50"])
def test_other_torchvision_backbones(name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=10)
    net = fullconv.convert(model, "full-exact", downsample="polyphase")
    cert = _certify(net, (2, 3, 16, 16), (1, 2, 3, 7, 16))
    assert cert.sensitivity > 1e-3
    assert max(c.error for c in cert.checks) < 1e-9, cert.summary()


def _densenet121_layout() -> nn.Module:
    """DenseNet-121's layout (blocks of 6, 12, 24, 16 layers, transitions, 2x2/2 average pools), growth 8."""
    torch.manual_seed(0)
    return torchvision.models.DenseNet(growth_rate=8, block_config=(6, 12, 24, 16), num_init_features=16,
                                       num_classes=10)


def _resnet3d18() -> nn.Module:
    """r3d_18's layout (3x7x7 stem, strides (1, 2, 2) then 2 in space and time), width 8."""
    torch.manual_seed(0)
    return create("resnet3d", depth=18, num_classes=5, width=8, in_channels=1)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("case", ["densenet121", "resnet3d18"])
def test_densenet_and_3d_resnet_are_invariant_to_every_shift(case, train):
    if case == "densenet121":
        model, shape, stride = _densenet121_layout(), (2, 3, 16, 16), (32, 32)
        shifts = [(1, 0), (0, 3), (5, 5), (16, 7), (31, 0)]
    else:
        # every residue of the time stride, odd and even spatial shifts, and a mixed one
        model, shape, stride = _resnet3d18(), (2, 1, 4, 12, 12), (8, 16, 16)
        shifts = _axis_shifts(3, (1, 3)) + [(5, 0, 0), (7, 0, 0), (0, 0, 15), (1, 5, 7)]
    net = fullconv.convert(model, "full-exact", downsample="polyphase").train(train)
    cert = check_equivariance(net, shape, shifts=shifts, calibrate=True)
    assert cert.total_stride == stride and cert.sensitivity > 1e-3
    assert cert.all_exact and cert.max_error(on_stride=None) < 1e-9, cert.summary()
    # the control: fixed-phase strides change the logits at the first off-grid shift
    strided = check_equivariance(fullconv.convert(model, "full-exact").train(train), shape, shifts=shifts[:1],
                                 calibrate=True)
    assert strided.max_error(on_stride=False) > 1e-3 and "not on its grid" in strided.checks[0].first_break


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("arch", ["tresnet", "resnetblur18"])
def test_timm_space_to_depth_and_blurpool_nets_are_invariant_to_every_shift(arch, train):
    """TResNet's space-to-depth stem keeps each sample's phase of its 4×4 blocks; its BlurPool2d
    (and resnetblur18's) becomes a blur that keeps the phase of its level."""
    pytest.importorskip("timm")
    from tests.zoo import ZOO
    model = ZOO["timm/tresnet-1111-w0.25" if arch == "tresnet" else f"timm/{arch}"].create()
    shifts = [(1, 0), (0, 2), (3, 3), (5, 1), (16, 0), (0, 31)]
    net = fullconv.convert(model, "full-exact", downsample="polyphase").train(train)
    cert = check_equivariance(net, (2, 3, 8, 8), shifts=shifts, calibrate=True)
    assert cert.total_stride == (32, 32) and cert.sensitivity > 1e-3
    assert cert.all_exact and cert.max_error(on_stride=None) < 1e-9, cert.summary()
    strided = check_equivariance(fullconv.convert(model, "full-exact").train(train), (2, 3, 8, 8),
                                 shifts=shifts[:1], calibrate=True)
    assert strided.max_error(on_stride=False) > 1e-3


def test_weights_and_buffers_are_kept_bit_for_bit(resnet18):
    net = fullconv.convert(resnet18, "full-exact", downsample="polyphase")
    own, kept = resnet18.state_dict(), net.state_dict()
    assert list(own) == list(kept)
    assert all(torch.equal(own[k], kept[k]) for k in own)


def test_phase_selection_is_shift_consistent_and_breaks_ties_in_content_order():
    x = torch.zeros(3, 2, 8, 8, dtype=torch.float64)
    x[0, :, 3, 5] = 1.0     # one pixel: its own phase wins
    x[1, :, 2:4, 2:4] = 1.0  # four equal-norm phases: the first non-background element's phase
    phase = choose_phase(x, (2, 2), (0, 0), 0.0)
    assert phase[0].tolist() == [1, 1]
    assert phase[1].tolist() == [0, 0]
    assert phase[2].tolist() == [0, 0]  # only background: phase 0
    moved = torch.roll(x, (1, 1), (-2, -1))
    assert choose_phase(moved, (2, 2), (0, 0), 0.0)[1].tolist() == [1, 1]  # the tie follows the content
    moved_to_phase = take_phase(x, phase, (2, 2), 0.0)  # a plain stride-2 window now keeps that phase
    assert moved_to_phase.shape == x.shape
    kept = moved_to_phase[..., ::2, ::2]
    assert kept[0, 0, 1, 2] == 1.0 and kept[0].sum() == 2.0
    assert torch.equal(kept[1], x[1, :, ::2, ::2])
    assert select_phase(x[:1], (2, 2)).tolist() == [[1, 1]]


@pytest.mark.parametrize("kwargs, message", [
    (dict(border="same"), "needs a full border"),
    (dict(border="full-exact", blurpool=True), "blurpool=True chooses a fixed phase"),
    (dict(border="full-exact", dims="spatial"), "needs dims='spacetime'"),
    (dict(border="full-exact", downsample="aps"), "unknown downsample"),
])
def test_refusals_name_the_problem(resnet18, kwargs, message):
    kwargs = dict(kwargs)
    border = kwargs.pop("border")
    kwargs.setdefault("downsample", "polyphase")
    with pytest.raises(ValueError, match=message):
        fullconv.convert(resnet18, border, **kwargs)


@pytest.mark.parametrize("up", ["transpose", "upsample"])
def test_unet_decoder_of_a_phased_map_is_refused(up):
    from tests.convert.test_convert_dense import UNet
    with pytest.raises(fullconv.ConversionError, match="upsamples a map subsampled with downsample=.polyphase."):
        fullconv.convert(UNet(nd=2, up=up), "full-exact", downsample="polyphase")
    fullconv.convert(UNet(nd=2, up=up), "full-exact")  # the default still converts it


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_content_at_the_far_end_of_the_canvas_keeps_every_response(train):
    """The shifted content ends on the canvas' last row and column, at every residue of the stride:
    no phase loses a response there (a phased layer pads s - 1 more on the left only). The control
    takes one step of right padding off a strided layer: at some residue a response to the last
    row goes."""
    from fullconv.models import small_resnet
    torch.manual_seed(0)
    net = fullconv.convert(small_resnet(in_channels=3, width=4), "full-exact", downsample="polyphase").train(train)
    for t in range(1, 9):
        cert = check_equivariance(net, (2, 3, 8, 8), shifts=[(t, t), (t, 0)], calibrate=True)
        assert cert.total_stride == (8, 8) and cert.sensitivity > 1e-3
        assert cert.all_exact and cert.max_error(on_stride=None) < 1e-9, (t, cert.summary())
    cut = next(m for m in net.modules() if isinstance(m, fullconv.layers.BorderConv2d) and max(m.stride) > 1)
    cut.pads = tuple((left, right - 1) for left, right in cut.pads)
    errors = [check_equivariance(net, (2, 3, 8, 8), shifts=[(t, t)], calibrate=True).max_error(on_stride=None)
              for t in (1, 2)]
    assert max(errors) > 1e-3
