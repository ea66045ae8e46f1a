"""Branches are aligned by the original model's index correspondence: models whose branches sample
positions a fraction of a stride apart (ResNet-D, DLA) or are fused by upsampling (HRNet) convert,
and full-exact is exactly shift invariant on them (float64, BatchNorm calibrated on random canvases)."""
import copy
import importlib

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import fullconv
from fullconv import check_equivariance, convert
from fullconv.metrics import canvas_shift_error

EXACT = 1e-9


@torch.no_grad()
def calibrate(net: nn.Module, canvas: tuple[int, ...], batches: int = 1, batch_size: int = 2) -> nn.Module:
    """BatchNorm running statistics from random canvases (random ones can make a deep net ignore its input)."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the calibration batches
    net.train()
    generator = torch.Generator().manual_seed(3)
    for _ in range(batches):
        net(torch.randn((batch_size, 3) + canvas, generator=generator, dtype=torch.float64))
    return net.eval()


def shift_errors(model: nn.Module, borders, stride: int = 32, size: int = 16, head=None) -> dict[str, float]:
    """Relative change of the output for content moved by ``stride`` on a canvas, per border."""
    content = torch.randn(1, 3, size, size, dtype=torch.float64)
    canvas = (size + stride, size + stride)
    errors = {}
    for border in borders:
        net = calibrate(convert(model, border).double(), canvas)
        run = net if head is None else (lambda x: head(net(x)))
        errors[border] = canvas_shift_error(run, content, canvas, [(0, 0), (stride, stride)])
    return errors


def _timm(name: str, **kwargs) -> nn.Module:
    timm = pytest.importorskip("timm")
    return timm.create_model(name, pretrained=False, num_classes=5, **kwargs)


TIMM = ["resnet18d", "resnet50d", "dla34", "res2net50_26w_4s", "skresnet18", "hrnet_w18_small"]


@pytest.mark.parametrize("name", TIMM)
def test_full_exact_is_exactly_invariant_where_branches_are_offset(name):
    borders = ["full-exact", "same", "full"] if name == "resnet18d" else ["full-exact", "same"]
    # DLA's 2×2/2 max pools and HRNet's fusions need map sizes that halve evenly down to stride 32
    # (in the original model too)
    errors = shift_errors(_timm(name), borders, size=32 if name in ("dla34", "hrnet_w18_small") else 16)
    assert errors["full-exact"] < EXACT
    # negative controls: the border is visible
    assert all(errors[border] > 1e-4 for border in borders[1:])


@pytest.mark.parametrize("name", TIMM)
@pytest.mark.parametrize("border", ["valid", "same-reflect", "full"])
def test_every_variant_converts_with_the_state_dict_kept(name, border):
    model = _timm(name)
    net = convert(model, border)
    original, converted = model.state_dict(), net.state_dict()
    assert list(original) == list(converted)
    assert all(torch.equal(original[k], converted[k]) for k in original)


def _output_of(model: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    found = []
    handle = model.get_submodule(name).register_forward_hook(lambda module, args, out: found.append(out))
    with torch.no_grad():
        model(x)
    handle.remove()
    return found[0]


def _shifts_that_agree(original: torch.Tensor, converted: torch.Tensor, margin: int) -> list[int]:
    """Shifts ``k`` with ``converted[i + k] == original[i]`` on the original's interior (both dims)."""
    size, found = original.shape[-1], []
    inner = original[..., margin:size - margin, margin:size - margin]
    for k in range(-size, converted.shape[-1]):
        start = margin + k
        if start < 0 or start + inner.shape[-1] > converted.shape[-1]:
            continue
        window = converted[..., start:start + inner.shape[-1], start:start + inner.shape[-1]]
        if (window - inner).abs().max() <= 1e-10 * inner.abs().max():
            found.append(k)
    return found


@pytest.mark.parametrize("border", ["full"])
def test_resnet_d_keeps_the_original_responses_index_by_index(border):
    """After the residual addition whose shortcut is a 2×2 average pool (centred at 2i + 1/2) and
    whose main branch is a 3×3/2 conv (centred at 2i), the converted map holds the original
    model's responses at one integer shift: branches are combined as the original combined them."""
    model = _timm("resnet18d").double().eval()
    net = convert(model, border).eval()
    x = torch.randn(1, 3, 160, 160, dtype=torch.float64)
    for name in ("layer2.0.act2", "layer3.0.act2"):
        original, converted = _output_of(model, name, x), _output_of(net, name, x)
        margin = 7 if name.startswith("layer2") else 3  # beyond the reach of the original's own zero padding
        assert len(_shifts_that_agree(original, converted, margin)) == 1, name
    # negative control: the same search finds no shift for a map of a different input
    other = _output_of(net, "layer2.0.act2", torch.randn(1, 3, 160, 160, dtype=torch.float64))
    assert _shifts_that_agree(_output_of(model, "layer2.0.act2", x), other, 7) == []


def test_valid_resnet_d_runs_on_a_large_input():
    net = convert(_timm("resnet18d"), "valid").eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 480, 480)).shape == (1, 5)


class _Upsampling(nn.Module):
    """Two resolutions fused by upsampling, with F.interpolate and nn.Upsample."""

    def __init__(self, mode: str):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.up = nn.Upsample(scale_factor=2, mode=mode)
        self.mode = mode
        self.head = nn.Conv2d(4, 2, 3, stride=2, padding=1)

    def forward(self, x):
        x = self.stem(x)
        low = self.down(x)
        x = x + F.interpolate(self.up(low), scale_factor=2, mode=self.mode)
        return self.head(x).mean((2, 3))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsampling_fusion_is_exact(mode):
    errors = shift_errors(_Upsampling(mode), ["full-exact", "full"], stride=8, size=8)
    assert errors["full-exact"] < EXACT and errors["full"] > 1e-4


def test_fixed_size_interpolation_is_a_clear_error():
    class Fixed(_Upsampling):
        def forward(self, x):
            x = self.stem(x)
            return x + F.interpolate(self.down(x), size=(16, 16))

    with pytest.raises(Exception, match="resizes to a fixed size"):
        convert(Fixed("nearest"), "full")


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_timm_vgg_converts_with_an_example_input(train):
    """timm's VGG head branches on the map size (vgg.py: ``if x.shape[-2] < self.input_kernel_size``)."""
    vgg = pytest.importorskip("timm.models.vgg")
    from fullconv import check_equivariance
    from fullconv.convert import ConversionError

    torch.manual_seed(0)
    model = vgg.VGG([8, "M", 16, "M", 16, "M"], num_classes=5, norm_layer=nn.BatchNorm2d).train(train)
    with pytest.raises(ConversionError, match=r"vgg.py:\d+ \(if x.shape\[-2\] < self.input_kernel_size"):
        convert(model, "full-exact")
    net = convert(model, "full-exact", example_input=torch.randn(2, 3, 64, 64))
    # 48 px of content keep every map at least 7 wide: the head then never pools adaptively
    cert = check_equivariance(net, (2, 3, 48, 48), shifts=[8], calibrate=True)
    assert cert.exact_on_stride and cert.max_error() <= 1e-9 and cert.sensitivity > 1e-2
    same = check_equivariance(convert(model, "same"), (2, 3, 48, 48), shifts=[8], calibrate=True)
    assert same.max_error() > 1e-6


class _ChannelGate(nn.Module):
    """ECA-Net's gate: a 1-D convolution across the channels of the pooled features."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, stride=2, padding=1), nn.BatchNorm2d(channels), nn.ReLU())
        self.gate = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.head = nn.Linear(channels, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.gate(x.mean((2, 3)).view(x.shape[0], 1, -1)).view(x.shape[0], -1, 1, 1)
        return self.head((x * y.sigmoid()).mean((2, 3)))


@pytest.mark.parametrize("border", ["full", "full-exact", "valid"])
def test_a_convolution_across_pooled_channels_keeps_its_own_padding(border):
    """Its axis is the channels, not space: no border applies, so the original layer stays (a
    full border there would add channels, and the gate would no longer match the map)."""
    torch.manual_seed(0)
    model = _ChannelGate().eval()
    net = convert(model, border)
    assert type(net.gate) is nn.Conv1d and net.gate.padding == (1,) and torch.equal(net.gate.weight, model.gate.weight)
    assert net.gate is not model.gate   # the model given is never changed
    assert net(torch.randn(2, 3, 12, 12)).shape == (2, 10)
    if border == "full-exact":
        cert = check_equivariance(net, (2, 3, 8, 8), shifts=[2, 4], calibrate=True)
        assert cert.max_error() < 1e-9 and cert.sensitivity > 1e-3, cert.summary()


class _SpaceToDepth(nn.Module):
    """TResNet's stem written out: a space-to-depth by views and a permute, then a 3×3 convolution;
    ``attention=True`` instead flattens the map for a spatial softmax and views it as a column
    (not the map's own sizes) before a 1×1 convolution."""

    def __init__(self, attention: bool = False):
        super().__init__()
        self.attention = attention
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv = nn.Conv2d(8, 8, 1) if attention else nn.Conv2d(32, 8, 3, padding=1)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        n, c, h, w = x.size()
        if self.attention:
            y = x.flatten(2).softmax(-1).view(n, c, h * w, 1)
        else:
            y = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).contiguous().view(n, 4 * c, h // 2, w // 2)
        return self.head(self.conv(y).mean((2, 3)))


@pytest.mark.parametrize("border", ["full", "full-exact", "valid"])
def test_a_window_on_a_reshaped_map_is_refused_naming_the_reshape(border):
    """A space-to-depth made of views changes the map's layout in a way the grids cannot follow:
    the 3×3 convolution after it is refused, naming the view (it used to be put back unconverted,
    as on pooled features). A 1×1 convolution there does not care about borders: it converts."""
    with pytest.raises(fullconv.ConversionError, match=r"layer 'conv' reads a map whose layout 'view' \('view'\)"):
        convert(_SpaceToDepth(), border)
    net = convert(_SpaceToDepth(attention=True), border)
    assert type(net.conv) is nn.Conv2d and type(net.stem) is not nn.Conv2d
    assert net(torch.randn(2, 3, 12, 12)).shape == (2, 10)
    assert type(convert(_SpaceToDepth(), "same").conv) is not nn.Conv2d   # same needs no grid


@pytest.mark.parametrize("border", ["full", "full-exact", "valid"])
def test_timms_space_to_depth_and_blurpool_become_window_layers(border):
    """TResNet's layers: timm's SpaceToDepth (views) becomes layers.SpaceToDepth and its BlurPool2d
    (a functional convolution, reflect-padded) layers.BlurPool with the same binomial filter, both
    placed on their grids; full-exact is then exact at the total stride (4·2), same keeps timm's layers."""
    timm = pytest.importorskip("timm")
    from fullconv.layers import BlurPool, SpaceToDepth
    torch.manual_seed(0)
    model = nn.Sequential(timm.layers.SpaceToDepth(4), nn.Conv2d(48, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          timm.layers.BlurPool2d(8, 3, 2), nn.Conv2d(8, 8, 3, padding=1),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    net = convert(model, border)
    assert isinstance(net[0], SpaceToDepth) and isinstance(net[4], BlurPool)
    assert torch.equal(net[4].filter.reshape(3, 3), model[4].filt[0, 0])
    assert net.state_dict().keys() == model.state_dict().keys()
    same = convert(model, "same")
    assert type(same[0]) is type(model[0]) and type(same[4]) is type(model[4])
    if border == "full-exact":
        cert = check_equivariance(net, (2, 3, 16, 16), shifts=[8, 16], calibrate=True)
        assert cert.total_stride == (8, 8) and cert.max_error() < EXACT and cert.sensitivity > 1e-3, cert.summary()
        assert check_equivariance(same, (2, 3, 16, 16), shifts=[8], calibrate=True).max_error() > 1e-4


class _ChannelsLast(nn.Module):
    """ConvNeXt's block on a channels-last map: depthwise 7×7, permute to (B, H, W, C), layer norm,
    linear layers over the channels, permute back, residual. ``swap=True`` instead transposes H and
    W before a convolution; ``head=False`` returns the channels-last map itself; ``residual_last``
    adds the residual on the channels-last maps (MambaOut's blocks), then permutes back."""

    def __init__(self, swap: bool = False, head: bool = True, residual_last: bool = False):
        super().__init__()
        self.swap, self.head, self.residual_last = swap, head, residual_last
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.norm, self.fc = nn.LayerNorm(8), nn.Linear(8, 8)
        self.out = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        if self.swap:
            return self.out(self.dw(x.permute(0, 1, 3, 2)).mean((2, 3)))
        y = self.fc(self.norm(self.dw(x).permute(0, 2, 3, 1)))
        if not self.head:
            return y
        x = (x.permute(0, 2, 3, 1) + y).permute(0, 3, 1, 2) if self.residual_last else x + y.permute(0, 3, 1, 2)
        return self.out(x.mean((2, 3)))


@pytest.mark.parametrize("residual_last", [False, True], ids=["residual-first", "residual-last"])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_a_channels_last_block_keeps_its_grid_through_the_permutes(train, residual_last):
    """The linear layers act on the channels of a permuted map: pointwise in space, so the grid
    follows the permute there and back, and the residual is aligned (it used to be left unaligned,
    a size mismatch at run time); a residual between channels-last maps is aligned along their
    spatial dims. The certificate compares the permuted maps with their spatial dims last: every
    layer, the channels-last ones too, is exact."""
    torch.manual_seed(0)
    model = _ChannelsLast(residual_last=residual_last)
    net = convert(model, "full-exact").train(train)
    cert = check_equivariance(net, (2, 3, 8, 8), shifts=[2, 4], calibrate=True)
    assert cert.max_error() < EXACT and cert.sensitivity > 1e-3, cert.summary()
    assert all(check.first_break is None for check in cert.checks if check.on_stride), cert.summary()
    same = check_equivariance(convert(model, "same").train(train), (2, 3, 8, 8), shifts=[2], calibrate=True)
    # the stem pads zeros on a zero canvas, which is its background; the 7x7 pads zeros around the
    # stem's bias, which is not
    assert same.max_error() > 1e-4 and same.checks[0].first_break.startswith("dw")


def test_the_certificate_moves_a_channels_last_output_map_along_its_spatial_dims():
    """An output (B, H, W, C) is equivariant along H and W: full-exact exact, same not."""
    torch.manual_seed(0)
    cert = check_equivariance(convert(_ChannelsLast(head=False), "full-exact"), (2, 3, 8, 8), shifts=[2, 4],
                              calibrate=True)
    assert cert.output == "equivariant" and cert.max_error() < EXACT, cert.summary()
    same = check_equivariance(convert(_ChannelsLast(head=False), "same"), (2, 3, 8, 8), shifts=[2], calibrate=True)
    assert same.max_error() > 1e-4


def test_a_window_on_permuted_spatial_dims_is_refused():
    with pytest.raises(fullconv.ConversionError, match=r"spatial dims were moved \(by a permute"):
        convert(_ChannelsLast(swap=True), "full-exact")


class _Tokens(nn.Module):
    """Attention's shape: a map (after a 7×7 that a full border grows) flattened to tokens, mixed
    over all positions, reshaped back into that map's own sizes, channels-last (EdgeNeXt's
    ``x.reshape(B, H, W, C)`` with ``B, C, H, W = x.shape``), and added to the block's input."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x)
        b, c, h, w = y.shape
        tokens = y.flatten(2).transpose(1, 2)                        # (B, H·W, C)
        tokens = self.mix(tokens) * tokens.softmax(1).sum(1, keepdim=True)
        x = x + tokens.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return self.head(x.mean((2, 3)))


@pytest.mark.parametrize("border", ["full-exact", "full", "valid"])
def test_tokens_reshaped_into_a_maps_sizes_are_on_its_grid(border):
    """The residual meets the reshaped tokens aligned (it used to meet them unaligned: a size
    mismatch at run time); full-exact is exact, same is not."""
    torch.manual_seed(0)
    net = convert(_Tokens(), border)
    assert net(torch.randn(2, 3, 24, 24)).shape == (2, 10)
    if border == "full-exact":
        cert = check_equivariance(net, (2, 3, 8, 8), shifts=[2, 4], calibrate=True)
        assert cert.max_error() < EXACT and cert.sensitivity > 1e-3, cert.summary()
        same = check_equivariance(convert(_Tokens(), "same"), (2, 3, 8, 8), shifts=[2], calibrate=True)
        assert same.max_error() > 1e-4


class _ExplicitPad(nn.Module):
    """timm's HGNet stem: the model zero-pads a map itself (one row and column) before a 2x2 convolution.

    ``pad="even"``: the forward computes the amounts, padding the map to an even size on the right
    (and bottom); ``pad="left"``: the same amounts on the left (and top)."""

    def __init__(self, pad: str = "constant"):
        super().__init__()
        self.pad = pad
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.conv = nn.Sequential(nn.Conv2d(8, 8, 2), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        h, w = x.shape[-2] % 2, x.shape[-1] % 2
        pad = {"constant": (0, 1, 0, 1), "even": (0, w, 0, h), "left": (w, 0, h, 0)}[self.pad]
        x = self.conv(F.pad(x, pad))
        return self.head(x.mean((2, 3)))


@pytest.mark.parametrize("pad", ["constant", "even"])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_a_models_own_zero_padding_extends_the_background(train, pad, monkeypatch):
    """full-exact fills the model's own F.pad with the map's background: exact, also where the
    forward computes the amounts on the right. The control keeps F.pad's zeros, a line the content
    can see, and is not."""
    torch.manual_seed(0)
    model = _ExplicitPad(pad)
    cert = check_equivariance(convert(model, "full-exact").train(train), (2, 3, 8, 8), shifts=[2, 4], calibrate=True)
    assert cert.max_error() < 1e-9 and cert.sensitivity > 1e-3, cert.summary()
    grid_pass = importlib.import_module("fullconv.convert")._GridPass
    same = convert(model, "same").train(train)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(same(x), copy.deepcopy(model).train(train)(x))  # the unpadded 2x2 conv stays unpadded
    monkeypatch.setattr(grid_pass, "_explicit_pad", lambda self, node: self._pointwise(node))
    zeros = check_equivariance(convert(model, "full-exact").train(train), (2, 3, 8, 8), shifts=[2], calibrate=True)
    assert zeros.max_error() > 1e-4


def test_a_computed_left_padding_is_refused_by_full_exact():
    """It would move the converted map by an amount that depends on the map's size."""
    with pytest.raises(fullconv.ConversionError, match=r"F.pad 'pad' pads the left of a map by an amount"):
        convert(_ExplicitPad("left"), "full-exact")
    assert convert(_ExplicitPad("left"), "full")(torch.randn(2, 3, 9, 9)).shape == (2, 10)


@pytest.mark.slow
def test_timm_hgnetv2_is_exact_with_its_stem_padding():
    """hgnetv2_b0's stem pads zeros itself (see above). Its same conversion computes the original:
    the stem's unpadded 2x2 convolutions keep their own padding, so its branches keep one size."""
    timm = pytest.importorskip("timm")
    from tests.zoo import redraw_constants
    torch.manual_seed(0)
    model = redraw_constants(timm.create_model("hgnetv2_b0", pretrained=False, num_classes=10))
    for train in (False, True):
        cert = check_equivariance(convert(model, "full-exact").train(train), (2, 3, 8, 8), shifts=[32], calibrate=True)
        assert cert.max_error() < 1e-9 and cert.sensitivity > 1e-3, cert.summary()
    full = check_equivariance(convert(model, "full").eval(), (2, 3, 8, 8), shifts=[32], calibrate=True)
    assert full.max_error() > 1e-3
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    original = model.double().eval()
    with torch.no_grad():
        assert torch.equal(convert(original, "same")(x), original(x))


class _SplitAttentionBlock(nn.Module):
    """ResNeSt's layout: a radix-2 split attention (the map viewed as (B, 2, C, H, W) and summed
    over the splits), then a 3x3/2 average pool, added to an average-pooled shortcut."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, stride=2, padding=1), nn.BatchNorm2d(channels), nn.ReLU())
        self.conv = nn.Sequential(nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels),
                                  nn.ReLU())
        self.fc = nn.Conv2d(channels, 2 * channels, 1)
        self.avd = nn.AvgPool2d(3, 2, padding=1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),
                                      nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels))
        self.head = nn.Linear(channels, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.conv(x)
        b, rc, h, w = y.shape
        y = y.reshape((b, 2, rc // 2, h, w))
        attention = self.fc(y.sum(dim=1).mean((2, 3), keepdim=True)).view(b, 2, rc // 2, 1, 1).softmax(dim=1)
        y = self.avd((y * attention).sum(dim=1))
        return self.head((y + self.shortcut(x)).mean((2, 3)))


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_split_attention_keeps_the_grid_through_its_reshape(train):
    """The reshape keeps the map's own H and W, so the layers after it are placed on their grid and
    the branches aligned; a reshape that folds the spatial dims is still global."""
    torch.manual_seed(0)
    model = _SplitAttentionBlock()
    net = convert(model, "full-exact").train(train)
    assert isinstance(net.avd, fullconv.layers.BorderPool)
    cert = check_equivariance(net, (2, 3, 8, 8), shifts=[4, 8], calibrate=True)
    assert cert.total_stride == (4, 4) and cert.max_error() < 1e-9 and cert.sensitivity > 1e-3, cert.summary()
    assert convert(model, "valid")(torch.randn(2, 3, 24, 24)).shape == (2, 10)
    same = check_equivariance(convert(model, "same").train(train), (2, 3, 8, 8), shifts=[4], calibrate=True)
    assert same.max_error() > 1e-4   # the control: zero padding draws a frame


def test_a_reshape_that_folds_the_spatial_dims_is_global():
    class Folded(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.head = nn.Conv1d(4, 2, 1)   # over the folded positions: not a spatial layer any more

        def forward(self, x):
            y = self.conv(x)
            return self.head(y.reshape(y.shape[0], y.shape[1], -1)).mean(-1)

    net = convert(Folded(), "full")
    assert type(net.head) is nn.Conv1d and net(torch.randn(2, 3, 8, 8)).shape == (2, 2)
