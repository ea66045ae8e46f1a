"""convert(): exact equivariance of full-exact, weights kept, model coverage, clear errors."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import video

import fullconv
from fullconv import ConversionError, check_equivariance, convert
from fullconv.metrics import canvas_shift_error, feature_equivariance_error
from fullconv.models import small_resnet

TOLERANCE = 1e-5


def _randomize_batchnorm(model: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine parameters, so that a zero background is not kept."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) * 2 - 1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) * 2 - 1)
    return model


def _shift_errors(arch: str, borders, train: bool, size: int = 16, stride: int = 32):
    model = _randomize_batchnorm(getattr(torchvision.models, arch)(num_classes=10))
    content = torch.randn(2, 3, size, size)  # train-mode BatchNorm needs two values per channel
    canvas = (size + stride, size + stride)
    errors = {}
    for border in borders:
        net = convert(model, border).train(train)
        with torch.no_grad():
            errors[border] = canvas_shift_error(net, content, canvas, [(0, 0), (stride, stride)])
    return errors


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "densenet121"])
def test_full_exact_is_exactly_shift_invariant(arch, train):
    errors = _shift_errors(arch, ["full-exact", "full", "same"], train)
    assert errors["full-exact"] < TOLERANCE
    # the other variants see the border: a clear difference documents why full-exact exists
    assert errors["full"] > 10 * TOLERANCE
    assert errors["same"] > 10 * TOLERANCE


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_valid_resnet18_is_not_shift_invariant(train):
    model = _randomize_batchnorm(torchvision.models.resnet18(num_classes=10))
    net = convert(model, "valid").train(train)
    content = torch.randn(2, 3, 568, 568)  # valid needs a large input: every layer crops
    with torch.no_grad():
        error = canvas_shift_error(net, content, (600, 600), [(0, 0), (32, 32)])
    assert error > 10 * TOLERANCE


def test_valid_crops_branches_to_common_positions():
    net = convert(small_resnet(in_channels=3, width=8), "valid").eval()
    assert net(torch.randn(1, 3, 96, 96)).shape == (1, 10)
    # layer2's input starts 3 px into the image (three valid 3×3 convs before it); the 3×3/stride-2
    # conv then samples even positions as it is, and the 1×1/stride-2 shortcut crops one column to match
    assert net.layer2[0].conv1.pads == ((0, 0), (0, 0))
    assert net.layer2[0].downsample[0].pads == ((-1, 0), (-1, 0))


def test_full_exact_video_spacetime_is_exact():
    model = _randomize_batchnorm(video.r3d_18(num_classes=5))
    net = convert(model, "full-exact", dims="spacetime").eval()
    content = torch.randn(1, 3, 4, 16, 16)
    assert canvas_shift_error(net, content, (12, 48, 48), [(0, 0, 0), (8, 32, 32)]) < TOLERANCE


def test_vgg_features_are_exactly_equivariant():
    """VGG's classifier reads a fixed 7×7 grid (positional by design), but its features are exact."""
    model = _randomize_batchnorm(torchvision.models.vgg11_bn(num_classes=10))
    net = convert(model, "full-exact").eval()
    error = feature_equivariance_error(net.features, torch.randn(1, 3, 16, 16), (64, 64), (0, 0), (32, 32), 32)
    assert error < TOLERANCE


@pytest.mark.parametrize("border", fullconv.BORDERS)
def test_weights_survive_conversion(border):
    model = torchvision.models.resnet18(num_classes=10)
    net = convert(model, border)
    original, converted = model.state_dict(), net.state_dict()
    assert list(original) == list(converted)
    for key in original:
        torch.testing.assert_close(original[key], converted[key])
    # and load both ways
    fresh = torchvision.models.resnet18(num_classes=10)
    fresh.load_state_dict(converted)
    net.load_state_dict(fresh.state_dict())


def test_convert_returns_a_copy_unless_inplace():
    model = torchvision.models.resnet18(num_classes=10)
    net = convert(model, "full")
    assert type(model.conv1) is nn.Conv2d and net is not model
    assert isinstance(net, torchvision.models.ResNet)  # same class (a subclass with the aligned forward)
    assert convert(model, "same-reflect", inplace=True) is model
    assert model.conv1.border.name == "same-reflect"


MODELS = ["resnet18", "resnet34", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
          "densenet161", "densenet169", "densenet201", "vgg11", "vgg16_bn", "mobilenet_v2",
          "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf", "regnet_x_400mf"]


@pytest.mark.parametrize("arch", MODELS)
def test_torchvision_models_convert(arch):
    """Every listed model converts to full-exact with its state_dict unchanged; the light ones run."""
    model = getattr(torchvision.models, arch)(num_classes=7)
    net = convert(model, "full-exact")
    assert list(net.state_dict()) == list(model.state_dict())
    if arch in ("resnet18", "mobilenet_v3_small", "mobilenet_v2", "regnet_y_400mf", "efficientnet_b0"):
        model, net = _randomize_batchnorm(model).eval(), _randomize_batchnorm(net).eval()
        content = torch.randn(1, 3, 16, 16)
        assert canvas_shift_error(net, content, (48, 48), [(0, 0), (32, 32)]) < TOLERANCE


@pytest.mark.parametrize("arch", ["r3d_18", "mc3_18", "r2plus1d_18"])
@pytest.mark.parametrize("dims", ["spatial", "spacetime"])
def test_video_models_convert(arch, dims):
    model = getattr(video, arch)(num_classes=4)
    net = convert(model, "full", dims=dims).eval()
    assert list(net.state_dict()) == list(model.state_dict())
    out = net(torch.randn(1, 3, 4, 16, 16))
    assert out.shape == (1, 4)
    time_pads = {m.pads[0] for m in net.modules() if isinstance(m, nn.Conv3d) and m.kernel_size[0] == 3}
    assert time_pads == ({(1, 1)} if dims == "spatial" else {(2, 2)} | ({(3, 2)} if arch != "mc3_18" else set()))


def test_full_map_sizes_grow_as_full_convolution_implies():
    """A stride-1 k×k full conv adds k-1 per dim; global pooling heads keep working on any size."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 5), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    net = convert(model, "full")
    assert net[:3](torch.zeros(1, 1, 10, 10)).shape[-2:] == (10 + 2 + 4, 10 + 2 + 4)
    assert net(torch.zeros(1, 1, 10, 13)).shape == (1, 4)


def test_blurpool_option_keeps_weights_and_exactness():
    model = _randomize_batchnorm(torchvision.models.resnet18(num_classes=10))
    net = convert(model, "full-exact", blurpool=True, blur_size=3).eval()
    assert list(net.state_dict()) == list(model.state_dict())
    assert net.layer2[0].conv1.stride == (1, 1) and net.layer2[0].conv1.blur.stride == (2, 2)
    content = torch.randn(1, 3, 16, 16)
    assert canvas_shift_error(net, content, (48, 48), [(0, 0), (32, 32)]) < TOLERANCE


def test_paper_stem_pool_is_2x2():
    net = convert(torchvision.models.resnet18(), "full", paper_stem_pool=True)
    assert net.maxpool.kernel_size == (2, 2) and net.maxpool.stride == (2, 2)


def test_unknown_border_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown border 'ful'; choose one of: valid, same, same-circular"):
        convert(torchvision.models.resnet18(), "ful")


class _DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.other = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        if x.sum() > 0:  # control flow on a tensor value: torch.fx cannot trace it
            return self.conv(x) + x
        return x


def test_untraceable_model_error_names_the_operation():
    with pytest.raises(ConversionError, match=r"torch.fx cannot trace _DataDependent at .*test_convert.py:\d+ "
                                              r"\(if x.sum\(\) > 0"):
        convert(_DataDependent(), "full")
    # a same border needs no tracing: the layers are swapped in place
    assert convert(_DataDependent(), "same-circular").conv.border.name == "same-circular"


class _ShapeBranch(nn.Module):
    """A head like timm's VGG ConvMlp: pool up to the kernel when the map is smaller than it."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8)
        self.block, self.fc = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 4, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = x + self.block(x)  # a merge: the converted model runs the traced graph
        if x.shape[-2] < 5 or x.shape[-1] < 5:  # control flow on a shape
            x = F.adaptive_avg_pool2d(x, 5)
        return self.fc(x).mean((2, 3))


def test_a_branch_on_shapes_converts_with_an_example_input():
    torch.manual_seed(0)
    model = _ShapeBranch().train()
    with pytest.raises(ConversionError, match=r"at .*test_convert.py:\d+ \(if x.shape\[-2\] < 5.*pass example_input="):
        convert(model, "full-exact")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = convert(model, "full-exact", example_input=torch.randn(2, 3, 32, 32))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # its BatchNorm ran: restored
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    cert = check_equivariance(net.eval(), (2, 3, 16, 16), shifts=[2, 4], calibrate=True)
    assert cert.exact_on_stride and cert.max_error() <= 1e-9 and cert.sensitivity > 1e-2
    # the example took the branch without pooling; a small input would have pooled: the graph keeps the first
    assert "adaptive_avg_pool2d" not in type(net)._fullconv_source and "add" in type(net)._fullconv_source
    with pytest.raises(ConversionError, match=r"if x.sum\(\) > 0"):  # a branch on a value stays refused
        convert(_DataDependent(), "full", example_input=torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="example_input must be a tensor"):
        convert(model, "full", example_input=[1, 3, 8, 8])


def test_model_without_convolutions_is_a_clear_error():
    with pytest.raises(ConversionError, match="has no nn.Conv1d/2d/3d or pooling layer"):
        convert(nn.Sequential(nn.Linear(3, 3)), "full")


def test_already_converted_model_is_a_clear_error():
    with pytest.raises(ConversionError, match="already converted"):
        convert(convert(torchvision.models.resnet18(), "same-reflect"), "full")


class _ShiftedConv(nn.Conv2d):
    """A convolution subclass whose forward adds something the border layer would not know."""

    def forward(self, x):
        return super().forward(x) + 1.0


@pytest.mark.parametrize("border", ["same", "full-exact"])
def test_a_convolution_with_its_own_forward_is_refused_not_changed(border):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Sequential(_ShiftedConv(4, 4, 3, padding=1)))
    with pytest.raises(ConversionError, match=r"layer '1.0' is a _ShiftedConv \([\w.]+\), an nn.Conv2d "
                                              r"subclass with its own forward"):
        convert(model, border)
    layers = pytest.importorskip("timm.layers")
    # a subclass that only pads in its forward (TensorFlow's "same") is a convolution to convert
    same_padded = nn.Sequential(layers.Conv2dSame(3, 4, 3, stride=2))
    assert convert(same_padded, border)[0].border.name == border


@pytest.mark.parametrize("kind", ["StdConv2d", "ScaledStdConv2d"])
def test_weight_standardised_convolutions_keep_their_standardisation(kind):
    """timm's StdConv2d (BiT) and ScaledStdConv2d (NF-ResNet) standardise their weight in forward:
    they convert to BorderStdConv2d, which does the same, so a same border gives the original
    outputs bit for bit, with the parameters and state_dict keys unchanged."""
    layers = pytest.importorskip("timm.layers")
    torch.manual_seed(0)
    conv = getattr(layers, kind)(3, 6, 3, stride=2, bias=True)
    with torch.no_grad():
        conv.weight.mul_(3.0).add_(0.5)   # far from standardised, so dropping the standardisation shows
        if kind == "ScaledStdConv2d":
            conv.gain.uniform_(0.5, 1.5)
    model = nn.Sequential(conv, nn.ReLU())
    x = torch.randn(2, 3, 9, 9)
    same = convert(model, "same")
    assert isinstance(same[0], fullconv.layers.BorderStdConv2d)
    assert torch.equal(same(x), model(x))
    assert list(same.state_dict()) == list(model.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(), model.state_dict().values()))
    # the control: the raw weight in a plain border convolution computes another function
    plain = fullconv.layers.BorderConv2d(3, 6, 3, stride=2, border="same")
    plain.weight, plain.bias = conv.weight, conv.bias
    assert (plain(x) - conv(x)).abs().max() > 1e-2
    # full padding keeps the standardisation too: its interior is the original's valid responses
    original = nn.Sequential(getattr(layers, kind)(3, 6, 3, padding=1, bias=True))
    assert torch.equal(convert(original, "full")(x)[..., 2:-2, 2:-2], original(x)[..., 1:-1, 1:-1])
