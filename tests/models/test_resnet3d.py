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
