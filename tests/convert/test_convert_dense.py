"""Dense prediction: transposed convolutions, a U-Net with skip concatenations and torchvision's
segmentation models. full-exact makes the output map exactly equivariant: content moved by a
multiple of the total stride moves the map by the same amount (float64, BatchNorm calibrated)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fullconv import ConversionError, check_equivariance, convert
from fullconv.layers import BorderConvTranspose2d
from fullconv.metrics import feature_equivariance_error

EXACT = 1e-9
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
UP = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


@torch.no_grad()
def calibrate(net: nn.Module, shape: tuple[int, ...], batches: int = 2) -> nn.Module:
    """BatchNorm running statistics from random canvases of ``shape`` (B, C, *S)."""
    for norm in (m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        norm.reset_running_stats()
        norm.momentum = None
    net.train()
    generator = torch.Generator().manual_seed(3)
    for _ in range(batches):
        net(torch.randn(shape, generator=generator, dtype=torch.float64))
    return net.eval()


def _block(nd: int, c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(CONV[nd](c_in, c_out, 3, padding=1), NORM[nd](c_out), nn.ReLU())


class UNet(nn.Module):
    """Two levels down (max pool), two up, skips concatenated; any of 1-3 spatial dims.

    ``up="transpose"``: transposed convolutions (2×2/2 and 3×3/2); ``up="upsample"``: nearest
    upsampling followed by a 3×3 convolution."""

    def __init__(self, nd: int = 2, width: int = 4, classes: int = 3, up: str = "transpose"):
        super().__init__()
        pool = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[nd]
        self.enc1, self.enc2, self.mid = _block(nd, 2, width), _block(nd, width, width), _block(nd, width, width)
        self.pool1, self.pool2 = pool(2), pool(2)
        if up == "transpose":
            self.up2 = UP[nd](width, width, 2, stride=2)
            self.up1 = UP[nd](width, width, 3, stride=2, padding=1, output_padding=1)
        else:
            self.up2 = nn.Sequential(nn.Upsample(scale_factor=2), CONV[nd](width, width, 3, padding=1))
            self.up1 = nn.Sequential(nn.Upsample(scale_factor=2), CONV[nd](width, width, 3, padding=1))
        self.dec2 = _block(nd, 2 * width, width)
        self.dec1 = _block(nd, 2 * width, width)
        self.head = CONV[nd](width, classes, 1)

    def forward(self, x):
        skip1 = self.enc1(x)
        skip2 = self.enc2(self.pool1(skip1))
        x = self.mid(self.pool2(skip2))
        x = self.dec2(torch.cat([self.up2(x), skip2], dim=1))
        x = self.dec1(torch.cat([self.up1(x), skip1], dim=1))
        return self.head(x)


def _map_errors(model: nn.Module, nd: int, borders, stride: int = 4, size: int = 8) -> dict[str, float]:
    content = torch.randn((1, 2) + (size,) * nd, dtype=torch.float64)
    canvas = (size + 2 * stride,) * nd
    errors = {}
    for border in borders:
        net = calibrate(convert(model, border).double(), (2, 2) + canvas)
        errors[border] = feature_equivariance_error(net, content, canvas, (0,) * nd, (stride,) * nd, 1)
    return errors


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_unet_output_map_is_exactly_equivariant(nd):
    errors = _map_errors(UNet(nd, up="upsample"), nd, ["full-exact", "full", "same"])
    assert errors["full-exact"] < EXACT
    assert errors["full"] > 1e-4 and errors["same"] > 1e-4


class _TransposedSkip(nn.Module):
    """A stride-1 transposed convolution beside a skip connection."""

    def __init__(self, nd: int):
        super().__init__()
        self.conv, self.norm = CONV[nd](2, 3, 3, padding=1), NORM[nd](3)
        self.up = UP[nd](3, 3, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.norm(self.conv(x)))
        return self.up(x) + x


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_stride_one_transposed_convolution_is_exact(nd):
    errors = _map_errors(_TransposedSkip(nd), nd, ["full-exact", "full"], stride=2, size=4)
    assert errors["full-exact"] < EXACT and errors["full"] > 1e-4


def test_strided_transposed_convolution_has_a_periodic_background():
    """Why a strided transposed convolution needs more than one background value: on a constant
    input its output alternates with the stride (each output gets a different subset of taps), so
    full-exact tracks that pattern (its period) and pads later layers with it."""
    up = BorderConvTranspose2d(1, 1, 2, stride=2, border="full-exact")
    out = up(torch.ones(1, 1, 6, 6))[0, 0, 4:8, 4:8]
    assert not torch.allclose(out[0, 0], out[0, 1]) and torch.allclose(out[0, 0], out[0, 2])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_unet_with_strided_transposed_convolutions_is_exactly_equivariant(nd):
    """The U-Net upsampling with 2×2/2 and 3×3/2 transposed convolutions: their output background
    repeats with the stride (see the test below), and full-exact pads every later layer with that
    pattern, so the output map is exact; full and same are not."""
    errors = _map_errors(UNet(nd, up="transpose"), nd, ["full-exact", "full", "same"])
    assert errors["full-exact"] < EXACT
    assert errors["full"] > 1e-4 and errors["same"] > 1e-4


def _without_periods(net: nn.Module) -> nn.Module:
    """Negative control: every layer pads with one background value again, as before periods."""
    for module in net.modules():
        if getattr(module, "background_period", None) is not None:
            module.background_period = None
    return net


def test_periodic_background_is_what_makes_the_transposed_unet_exact():
    model, content = UNet(2, up="transpose"), torch.randn(1, 2, 8, 8, dtype=torch.float64)
    net = calibrate(convert(model, "full-exact").double(), (2, 2, 16, 16))
    assert sum(getattr(m, "background_period", None) is not None for m in net.modules()) >= 3
    assert feature_equivariance_error(net, content, (16, 16), (0, 0), (4, 4), 1) < EXACT
    assert feature_equivariance_error(_without_periods(net), content, (16, 16), (0, 0), (4, 4), 1) > 1e-4


def test_the_certificate_finds_the_transposed_unet_exact_and_same_not():
    """check_equivariance on the output map: full-exact exact at multiples of the total stride (4),
    same not; the first layer that breaks it under same is named. The same-padded U-Net only takes
    multiples of 4, so this also pins that the certificate finds the stride on the content's size."""
    model = UNet(2, up="transpose")
    cert = check_equivariance(convert(model, "full-exact"), (2, 2, 8, 8), shifts=[4, 8], calibrate=True)
    assert cert.output == "equivariant" and cert.total_stride == (4, 4)
    assert cert.max_error() < EXACT and cert.sensitivity > 1e-3, cert.summary()
    assert all(check.first_break is None for check in cert.checks)
    same = check_equivariance(convert(model, "same"), (2, 2, 8, 8), shifts=[4, 8], calibrate=True)
    assert same.max_error() > 1e-4, same.summary()
    assert all(check.first_break.startswith("enc1") for check in same.checks), same.summary()


class _Periods(nn.Module):
    """Backgrounds of period 2, 6 and 18 meeting: stride-2 and stride-3 convolutions down to stride 6,
    transposed convolutions back (2×2/2, then 3×3/3 on the period-2 map), a stride-3 convolution and a
    max pool of a periodic map, nearest and linear upsampling of periodic maps, ``F.pad``, and sums
    with skips of another period. Output stride 1; total stride 9 on the deepest branch."""

    def __init__(self, nd: int):
        super().__init__()
        pool = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[nd]
        linear = {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
        self.stem, self.norm = CONV[nd](2, 3, 3, padding=1), NORM[nd](3)
        self.down2 = CONV[nd](3, 3, 3, stride=2, padding=1)
        self.down3 = CONV[nd](3, 3, 3, stride=3, padding=1)
        self.up2 = UP[nd](3, 3, 2, stride=2)                  # stride 3, period 2
        self.up3 = UP[nd](3, 3, 3, stride=3)                  # stride 1, period 6
        self.side = CONV[nd](3, 3, 3, stride=3, padding=1)    # stride 9, period 2
        self.near = nn.Upsample(scale_factor=3)               # stride 3, period 6
        self.pool = pool(3, stride=1, padding=1)
        self.lin = nn.Upsample(scale_factor=3, mode=linear)   # stride 1, period 18
        self.head = CONV[nd](3, 2, 1)
        self.pad = (1,) * (2 * nd)

    def forward(self, x):
        a = torch.relu(self.norm(self.stem(x)))
        u1 = self.up2(self.down3(torch.relu(self.down2(a))))
        b = self.pool(F.pad(u1 + self.near(self.side(u1)), self.pad))
        return self.head(self.lin(b) + self.up3(u1) + a)


def _periods_error(nd: int, border: str, blurpool: bool = False, control: bool = False) -> float:
    canvas = (44,) * nd
    net = convert(_Periods(nd), border, blurpool=blurpool).double()
    net = calibrate(net, (2, 2) + canvas)
    if control:
        _without_periods(net)
    content = torch.randn((1, 2) + (8,) * nd, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return feature_equivariance_error(net, content, canvas, (0,) * nd, (18,) * nd, 1)


@pytest.mark.parametrize("nd", [1, 2])
def test_backgrounds_of_different_periods_merge_exactly(nd):
    assert _periods_error(nd, "full-exact") < EXACT
    assert _periods_error(nd, "full") > 1e-4
    assert _periods_error(nd, "full-exact", control=True) > 1e-4


def test_periodic_backgrounds_with_blurpool_are_exact():
    assert _periods_error(2, "full-exact", blurpool=True) < EXACT



def test_bicubic_interpolation_of_a_periodic_background_is_refused():
    """Bicubic interpolation reads two elements beyond its sample, more than the background kept
    in front of a map after a strided transposed convolution: a clear error instead of a silently
    inexact network."""
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=4, padding=1), nn.ConvTranspose2d(3, 3, 2, 2),
                          nn.Upsample(scale_factor=2, mode="bicubic"))
    with pytest.raises(ConversionError, match="'bicubic' interpolation of a map whose background repeats"):
        convert(model, "full-exact")
    convert(model, "full")  # the other variants keep no background

@pytest.mark.parametrize("border", ["valid", "same-replicate", "full"])
def test_unet_converts_to_every_variant(border):
    model = UNet(2)
    net = convert(model, border).eval()
    assert list(net.state_dict()) == list(model.state_dict())
    size = 40 if border == "valid" else 16
    assert net(torch.randn(1, 2, size, size)).shape[:2] == (1, 3)


def test_transposed_full_keeps_every_response():
    """A transposed conv without padding is full: ``s·(n-1) + k`` outputs, its input's every tap."""
    up = BorderConvTranspose2d(1, 1, 3, stride=2, border="full")
    plain = nn.ConvTranspose2d(1, 1, 3, stride=2)
    plain.load_state_dict(up.state_dict())
    x = torch.randn(1, 1, 5, 5)
    assert up(x).shape[-2:] == (2 * 4 + 3, 2 * 4 + 3)
    torch.testing.assert_close(up(x), plain(x))


# --------------------------------------------------------------------------- torchvision segmentation

SEGMENTATION = ["fcn_resnet50", "deeplabv3_resnet50", "lraspp_mobilenet_v3_large"]


def _segmentation(name: str) -> nn.Module:
    from torchvision.models import segmentation
    return getattr(segmentation, name)(weights=None, weights_backbone=None, num_classes=3)


def _small_segmentation(kind: str) -> nn.Module:
    """torchvision's FCN / DeepLabV3 classes (backbone getter, heads, final interpolation to the
    input size) on a dilated ResNet-18 with small atrous rates, so that float64 runs in seconds."""
    import torchvision
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation import deeplabv3, fcn

    resnet = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1],
                                              width_per_group=64)
    for layer, dilation in ((resnet.layer3, 2), (resnet.layer4, 4)):  # output stride 8, as the real models
        layer[0].conv1.stride, layer[0].downsample[0].stride = (1, 1), (1, 1)
        for conv in (layer[0].conv1, layer[0].conv2):
            conv.dilation, conv.padding = (dilation, dilation), (dilation, dilation)
    backbone = IntermediateLayerGetter(resnet, return_layers={"layer4": "out"})
    if kind == "fcn":
        return fcn.FCN(backbone, fcn.FCNHead(512, 3))
    return deeplabv3.DeepLabV3(backbone, deeplabv3.DeepLabHead(512, 3, atrous_rates=(1, 2, 3)))


@pytest.mark.parametrize("name", SEGMENTATION)
@pytest.mark.parametrize("border", ["full-exact", "valid", "same-reflect"])
def test_segmentation_models_convert(name, border):
    model = _segmentation(name)
    net = convert(model, border)
    original, converted = model.state_dict(), net.state_dict()
    assert list(original) == list(converted) and all(torch.equal(original[k], converted[k]) for k in original)


def _out_map_errors(model: nn.Module, stride: int, borders, size: int = 8) -> dict[str, float]:
    content = torch.randn(1, 3, size, size, dtype=torch.float64)
    canvas = (size + 2 * stride,) * 2
    errors = {}
    for border in borders:
        net = calibrate(convert(model, border).double(), (2, 3) + canvas, batches=1)
        errors[border] = feature_equivariance_error(lambda x: net(x)["out"], content, canvas, (0, 0),
                                                    (stride, stride), 1)
    return errors


@pytest.mark.parametrize("kind", ["fcn", "deeplabv3"])
def test_segmentation_output_map_is_exactly_equivariant(kind):
    errors = _out_map_errors(_small_segmentation(kind), 8, ["full-exact", "full", "same"])
    assert errors["full-exact"] < EXACT
    assert errors["full"] > 1e-4 and errors["same"] > 1e-4


@pytest.mark.slow
def test_lraspp_output_map_is_exactly_equivariant():
    """torchvision's LRASPP (low/high branches fused by interpolation to the low branch's size) on
    the small dilated MobileNetV3, so that float64 runs in seconds; the large one converts above."""
    from torchvision.models import mobilenet_v3_small
    from torchvision.models.segmentation.lraspp import _lraspp_mobilenetv3

    model = _lraspp_mobilenetv3(mobilenet_v3_small(dilated=True), num_classes=3)
    errors = _out_map_errors(model, 16, ["full-exact", "same"])
    assert errors["full-exact"] < EXACT and errors["same"] > 1e-4


def test_segmentation_output_map_is_the_feature_map_upsampled():
    """The output map is the converted feature map upsampled by the total stride (not resized to the
    input): it covers the input and the border responses around it."""
    net = convert(_small_segmentation("fcn"), "full").eval()
    x = torch.randn(1, 3, 32, 32)
    found = []
    net.classifier[4].register_forward_hook(lambda module, args, out: found.append(out))  # the head's last conv
    with torch.no_grad():
        out = net(x)["out"]
    assert out.shape[-2:] == tuple(8 * s for s in found[0].shape[-2:])
    assert all(s > 32 for s in out.shape[-2:])


def test_input_size_output_crops_the_equivariant_map():
    """output="input-size" keeps the input's positions of the exactly equivariant map."""
    model = _small_segmentation("fcn")
    content = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    canvas = (24, 24)
    net = calibrate(convert(model, "full-exact", output="input-size").double(), (2, 3) + canvas, batches=1)
    assert net(torch.zeros(1, 3, 24, 24, dtype=torch.float64))["out"].shape[-2:] == (24, 24)
    error = feature_equivariance_error(lambda x: net(x)["out"], content, canvas, (0, 0), (8, 8), 1)
    assert error < EXACT
    with pytest.raises(ValueError, match="valid drops them"):
        convert(model, "valid", output="input-size")
