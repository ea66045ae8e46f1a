"""convert() has no side effects: parameters and buffers stay bit-identical, inplace is all or
nothing, converted models pickle, and a wrong background is refused at conversion time."""
import copy
import importlib
import io

import pytest
import torch
import torch.fx as fx
import torch.nn as nn
import torchvision

import fullconv
from fullconv import ConversionError, convert
from fullconv.layers import SAME_BORDERS, align
from fullconv.layers.conv import _BorderConvMixin
from fullconv.models import small_resnet

convert_module = importlib.import_module("fullconv.convert")  # the module, not the function of that name


def _timm(name: str) -> nn.Module:
    timm = pytest.importorskip("timm")
    return timm.create_model(name, pretrained=False, num_classes=5)


def _torchvision(name: str) -> nn.Module:
    return getattr(torchvision.models, name)(num_classes=5)


# models in train mode (as built): tracing runs their forwards, which is where buffers change
REGISTRY = {
    "resnet18": lambda: _torchvision("resnet18"),
    "densenet121": lambda: _torchvision("densenet121"),
    "mobilenet_v3_small": lambda: _torchvision("mobilenet_v3_small"),
    "timm_efficientnet_b0": lambda: _timm("efficientnet_b0"),  # BatchNormAct2d
    "timm_skresnet18": lambda: _timm("skresnet18"),
    "timm_convnext_atto": lambda: _timm("convnext_atto"),      # LayerNorm2d
    "timm_resnet18d": lambda: _timm("resnet18d"),
}


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in list(model.named_parameters()) + list(model.named_buffers())}


def _assert_bit_identical(expected: dict[str, torch.Tensor], model: nn.Module) -> None:
    actual = dict(list(model.named_parameters()) + list(model.named_buffers()))
    for name, tensor in expected.items():
        assert name in actual, name
        assert actual[name].dtype == tensor.dtype and torch.equal(actual[name], tensor), name


@pytest.mark.parametrize("name", list(REGISTRY))
def test_parameters_and_buffers_stay_bit_identical(name):
    model = REGISTRY[name]()
    before = _state(model)
    borders = ["full-exact", "valid", "full"] if name == "resnet18" else ["full-exact"]
    for border in borders:
        net = convert(model, border)
        _assert_bit_identical(before, net)     # the result
        _assert_bit_identical(before, model)   # and the model given
    assert model.training and net.training


class _Counting(nn.Module):
    """Counts its calls in a buffer, as timm's BatchNormAct2d counts batches (traced through)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        self.calls.add_(1)
        return self.conv(x) + x


def test_buffer_changed_by_tracing_is_restored():
    model = _Counting()
    # negative control: tracing alone runs the forward and changes the buffer
    traced_copy = copy.deepcopy(model)
    fx.symbolic_trace(traced_copy)
    assert traced_copy.calls.item() == 1
    for inplace in (False, True):
        net = convert(model, "full", inplace=inplace)
        assert net.calls.item() == 0 and model.calls.item() == 0


def test_norm_act_layers_follow_train_and_eval_after_conversion():
    """timm's BatchNormAct2d branches on self.training: it is kept as a leaf, not frozen by tracing."""
    net = convert(_timm("skresnet18"), "full")   # converted in train mode
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        net.eval()
        # eval mode uses the running statistics: a sample's output does not depend on its batch
        torch.testing.assert_close(net(x[:1]), net(x)[:1])
        net.train()
        assert not torch.allclose(net(x[:1].expand(2, -1, -1, -1))[:1], net(x)[:1])  # control: batch statistics


class _Fails(nn.Module):
    """Converts some layers, then fails at a branch whose strides differ."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.down = nn.Conv2d(3, 3, 3, stride=2, padding=1)

    def forward(self, x):
        x = self.conv(x)
        return self.down(x) + x[..., ::2, ::2]


def test_failed_inplace_conversion_leaves_the_model_as_it_was():
    model = _Fails()
    x = torch.randn(1, 3, 9, 9)
    expected, params, state = model(x), list(model.parameters()), _state(model)
    with pytest.raises(ConversionError, match="cannot align the inputs"):
        convert(model, "full", inplace=True)
    assert type(model) is _Fails and type(model.conv) is nn.Conv2d and type(model.down) is nn.Conv2d
    assert all(a is b for a, b in zip(params, model.parameters()))
    _assert_bit_identical(state, model)
    assert torch.equal(model(x), expected)


def test_inplace_conversion_keeps_the_parameter_objects():
    model = _torchvision("resnet18").eval()
    params = list(model.parameters())
    reference = convert(model, "full-exact")
    assert convert(model, "full-exact", inplace=True) is model
    assert isinstance(model.conv1, _BorderConvMixin) and isinstance(model, torchvision.models.ResNet)
    assert all(a is b for a, b in zip(params, model.parameters()))  # an optimizer built before still works
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


@pytest.mark.parametrize("border", fullconv.BORDERS)
def test_converted_model_pickles_whole(border, monkeypatch):
    model = small_resnet(in_channels=3, width=8)  # residual: valid/full/full-exact get a generated class
    net = convert(model, border).eval()
    x = torch.randn(1, 3, 96, 96)  # large enough for valid
    buffer = io.BytesIO()
    torch.save(net, buffer)
    # a fresh process has no generated class yet: loading must rebuild it from the pickle alone
    monkeypatch.setattr(convert_module, "_CONVERTED_CLASSES", {})
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert isinstance(loaded, type(model)) and type(loaded).__name__ == type(model).__name__
    assert (type(loaded) is type(model)) == (border in SAME_BORDERS)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
        assert torch.equal(copy.deepcopy(loaded)(x), net(x))


def test_background_is_checked_against_the_first_convolution():
    model = _torchvision("resnet18")
    with pytest.raises(ValueError, match=r"^background has 2 values but the first convolution 'conv1' takes 3 input "
                                         r"channels; give one number or 3$"):
        convert(model, "full-exact", background=[0.1, 0.2])
    with pytest.raises(ValueError, match="background must be a number or one number per input channel"):
        convert(model, "full-exact", background="grey")
    net = convert(model, "full-exact", background=[0.1, 0.2, 0.3]).eval()
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 5)


class _Gate(nn.Module):
    """No spatial layer, but Python control flow on a tensor value: torch.fx cannot trace it."""

    def forward(self, x):
        return x * 2 if x.mean() > 0 else x


class _GatedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.gate, self.down = nn.Conv2d(3, 3, 3, padding=1), _Gate(), nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        y = self.gate(self.conv(x))
        return self.down(y) + y


def test_untraceable_block_without_spatial_layer_becomes_a_leaf():
    net = convert(_GatedNet(), "full-exact")
    with torch.no_grad():
        for sign in (1.0, -1.0):  # the gate's two branches: both stay live in the converted forward
            x = torch.full((1, 3, 8, 8), sign) + 0.1 * torch.randn(1, 3, 8, 8)
            y = net.gate(net.conv(x))
            shortcut, main = align((y, net.down(y)), ((1, 1), (0, 0)), "full-exact")
            assert torch.equal(net(x), main + shortcut)
