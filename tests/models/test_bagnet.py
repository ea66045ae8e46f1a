import pytest
import torch

from fullconv.models.bagnet import BagNet, bagnet33


@pytest.fixture(scope="module")
def model() -> BagNet:
    torch.manual_seed(0)
    return bagnet33(num_classes=7).eval()


def test_shape(model):
    x = torch.randn(2, 3, 64, 64)
    assert model(x).shape == (2, 7)
    # no padding: 3×3 stem, then three strided 3×3 blocks and one unstrided one
    size = 64 - 2
    for stride in (2, 2, 2, 1):
        size = (size - 3) // stride + 1
    assert model.features(x).shape == (2, 2048, size, size)


def test_receptive_field_is_33_by_gradient(model):
    x = torch.randn(1, 3, 65, 65, dtype=torch.float64, requires_grad=True)
    model64 = model.double()
    try:
        features = model64.features(x)
        features[0, :, 2, 2].sum().backward()
    finally:
        model.float()
    touched = x.grad[0].abs().sum(0) > 0
    rows = touched.any(1).nonzero().flatten()
    cols = touched.any(0).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == 33
    assert cols.max() - cols.min() + 1 == 33
    # output (2, 2) of a total stride of 8 starts at input 16
    assert rows.min() == 16 and cols.min() == 16


def test_state_dict_keys_follow_the_published_layout(model):
    keys = set(model.state_dict())
    assert {"conv1.weight", "conv2.weight", "bn1.running_mean", "fc.weight", "fc.bias"} <= keys
    assert "layer1.0.downsample.0.weight" in keys and "layer1.0.downsample.1.running_var" in keys
    for stage, blocks in zip(range(1, 5), (3, 4, 6, 3)):
        assert f"layer{stage}.{blocks - 1}.conv3.weight" in keys
        assert f"layer{stage}.{blocks}.conv1.weight" not in keys
        assert model.get_submodule(f"layer{stage}.0.conv2").kernel_size == (3, 3)
        assert model.get_submodule(f"layer{stage}.1.conv2").kernel_size == (1, 1)
    assert model.conv1.kernel_size == (1, 1) and model.conv2.kernel_size == (3, 3)


def test_parameter_count_is_resnet50_with_the_published_kernels():
    import torchvision

    resnet50 = sum(p.numel() for p in torchvision.models.resnet50().parameters())
    stem = 3 * 64 + 64 * 64 * 9 - 3 * 64 * 49  # 1×1 + 3×3 stem instead of one 7×7
    only_first_3x3 = sum((blocks - 1) * planes * planes * 8 for planes, blocks in zip((64, 128, 256, 512), (3, 4, 6, 3)))
    assert sum(p.numel() for p in bagnet33().parameters()) == resnet50 + stem - only_first_3x3


def test_loads_from_file(model, tmp_path):
    path = tmp_path / "bagnet.pth"
    torch.save({"module." + key: value for key, value in model.state_dict().items()}, path)
    loaded = bagnet33(num_classes=7, weights=path).eval()
    x = torch.randn(1, 3, 40, 40)
    assert torch.equal(loaded(x), model(x))


def test_mismatching_file_is_a_clear_error(model, tmp_path):
    path = tmp_path / "bagnet.pth"
    torch.save(model.state_dict(), path)
    with pytest.raises(ValueError, match="fc.weight"):
        bagnet33(num_classes=1000, weights=path)
    with pytest.raises(FileNotFoundError, match="not found"):
        bagnet33(weights=tmp_path / "missing.pth")
