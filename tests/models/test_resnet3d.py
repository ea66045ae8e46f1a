import pytest
import torch
import torch.nn as nn
from torchvision.models.video import r3d_18
from torchvision.models.video.resnet import BasicBlock, Bottleneck

from fullconv.models.resnet3d import DEPTHS, ResNet3d, resnet3d


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_depth18_is_r3d_18():
    model = resnet3d(18, 101)
    reference = r3d_18(num_classes=101)
    assert n_params(model) == n_params(reference) == 33_218_085
    assert shapes(model) == shapes(reference)


def test_generic_builder_reproduces_r3d_18_layout():
    """The class behind depths 10/34/50 and narrow widths builds r3d_18 key for key at width 64."""
    assert shapes(ResNet3d(BasicBlock, (2, 2, 2, 2), num_classes=101)) == shapes(r3d_18(num_classes=101))


def test_narrow_width_scales_every_channel():
    """At width 16 every conv/BN/linear shape is r3d_18's with its channels divided by 4 (input kept)."""
    narrow, full = shapes(resnet3d(18, 10, width=16)), shapes(r3d_18(num_classes=10))
    assert narrow.keys() == full.keys()
    for key, shape in full.items():
        if key.endswith("num_batches_tracked"):
            continue
        expected = list(shape)
        if key == "fc.weight":
            expected[1] //= 4
        elif len(shape) == 5:  # conv weight (out, in, t, h, w); the stem keeps its 3 input channels
            expected[0] //= 4
            expected[1] = expected[1] if key == "stem.0.weight" else expected[1] // 4
        elif key != "fc.bias":
            expected[0] //= 4
        assert narrow[key] == tuple(expected), key


@pytest.mark.parametrize("depth", sorted(DEPTHS))
def test_blocks_per_stage_and_head(depth):
    block, layers = DEPTHS[depth]
    model = resnet3d(depth, 7, width=4, in_channels=1)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == list(layers)
    assert all(isinstance(b, block) for i in range(1, 5) for b in getattr(model, f"layer{i}"))
    assert model.fc.in_features == 4 * 8 * block.expansion
    assert model.stem[0].in_channels == 1


@pytest.mark.parametrize("depth", sorted(DEPTHS))
def test_shapes(depth):
    """Stem stride (1, 2, 2) and three stride-2 stages: the last map is (T/8, H/16, W/16), rounded up."""
    model = resnet3d(depth, 5, width=4, in_channels=2).eval()
    x = torch.randn(3, 2, 16, 48, 40)
    features = model.layer4(model.layer3(model.layer2(model.layer1(model.stem(x)))))
    assert features.shape == (3, 4 * 8 * DEPTHS[depth][0].expansion, 2, 3, 3)
    assert model(x).shape == (3, 5)


@pytest.mark.parametrize("depth", [10, 34, 50])
def test_only_plain_torch_layers(depth):
    """convert() swaps layers of the exact types nn.Conv3d/pooling: no subclasses, no other layers."""
    layers = (nn.Conv3d, nn.BatchNorm3d, nn.ReLU, nn.AdaptiveAvgPool3d, nn.Linear)
    containers = (nn.Sequential, BasicBlock, Bottleneck, ResNet3d)
    for module in resnet3d(depth, 3, width=4).modules():
        assert type(module) in layers or isinstance(module, containers), type(module)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown 3D ResNet depth 20; choose one of: 10, 18, 34, 50"):
        resnet3d(20, 10)
    with pytest.raises(ValueError, match="width"):
        resnet3d(18, 10, width=0)


def test_hara_layout_is_the_papers_network():
    """Hara et al.'s 3-D ResNet-18: 7×7×7 stem, stride (1, 2, 2), padding 3; 3×3×3/2 max pool; 1×1×1 shortcuts (B)."""
    model = resnet3d(18, 101, stem="hara", linear_init="default")
    conv, pool = model.stem[0], model.stem[3]
    assert (conv.kernel_size, conv.stride, conv.padding) == ((7, 7, 7), (1, 2, 2), (3, 3, 3))
    assert isinstance(pool, nn.MaxPool3d) and (pool.kernel_size, pool.stride, pool.padding) == (3, 2, 1)
    shortcut = model.layer2[0].downsample
    assert shortcut[0].kernel_size == (1, 1, 1) and shortcut[0].stride == (2, 2, 2)
    assert isinstance(shortcut[1], nn.BatchNorm3d)
    # Total stride 16 in time (pool and three stages), 32 in space; the stem time stride doubles time's.
    x = torch.zeros(1, 3, 16, 112, 112)
    features = nn.Sequential(model.stem, model.layer1, model.layer2, model.layer3, model.layer4)
    assert features(x).shape == (1, 512, 1, 4, 4)
    strided = resnet3d(18, 101, stem="hara", stem_time_stride=2)
    assert strided.stem[0].stride == (2, 2, 2)
    x = torch.zeros(1, 3, 64, 64, 64)
    deep = nn.Sequential(strided.stem, strided.layer1, strided.layer2, strided.layer3, strided.layer4)
    assert deep(x).shape[2:] == (2, 2, 2)


def test_linear_init_default_keeps_pytorch_init():
    """``default``: PyTorch's nn.Linear init (uniform ±1/sqrt(fan_in)); ``small``: N(0, 0.01)."""
    torch.manual_seed(0)
    default = resnet3d(10, 50, width=64, stem="hara", linear_init="default").fc.weight.detach()
    small = resnet3d(10, 50, width=64, stem="hara").fc.weight.detach()
    bound = 1 / 512 ** 0.5
    assert default.abs().max() <= bound and default.std() > 0.5 * bound / 3 ** 0.5
    assert float(small.std()) == pytest.approx(0.01, rel=0.1)
    with pytest.raises(ValueError, match="unknown 3D ResNet stem"):
        resnet3d(10, 5, stem="c3d")
