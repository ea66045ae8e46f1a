"""BlurPool: binomial filter, padding per border, exact equivariance of full-exact."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage, signal

from fullconv.layers import BORDERS, SAME_BORDERS
from fullconv.layers.blurpool import BlurPool, blur_downsample, blur_filter


@pytest.mark.parametrize("size, row", [(1, [1]), (2, [1, 1]), (3, [1, 2, 1]), (4, [1, 3, 3, 1]),
                                       (5, [1, 4, 6, 4, 1]), (7, [1, 6, 15, 20, 15, 6, 1])])
def test_filter_values(size, row):
    row = torch.tensor(row, dtype=torch.float32) / sum(row)
    torch.testing.assert_close(blur_filter(size, 1), row)
    torch.testing.assert_close(blur_filter(size, 2), row[:, None] * row[None, :])
    torch.testing.assert_close(blur_filter(size, 3), row[:, None, None] * row[None, :, None] * row[None, None, :])


@pytest.mark.parametrize("size", range(1, 8))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_filter_sums_to_one(size, ndim):
    kernel = blur_filter(size, ndim)
    assert kernel.shape == (size,) * ndim
    assert abs(kernel.sum().item() - 1.0) < 1e-6


@pytest.mark.parametrize("bad", [0, 8, 2.5])
def test_exception_size(bad):
    with pytest.raises(ValueError, match="blur size"):
        blur_filter(bad)


def test_exception_border_and_shape():
    with pytest.raises(ValueError, match="unknown border 'fulll'"):
        blur_downsample(torch.zeros(1, 1, 8, 8), 2, 3, "fulll")
    with pytest.raises(ValueError, match="1 to 3 spatial dims"):
        blur_downsample(torch.zeros(8, 8), 2, 3, "full")
    with pytest.raises(ValueError, match="expects"):
        BlurPool(2, 3, "full", ndim=2)(torch.zeros(1, 1, 4, 8, 8))


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("border", ["full-exact", "same", "same-reflect", "same-replicate", "same-circular",
                                    "same-partial", "valid"])
def test_constant_map_stays_constant(ndim, border):
    value = torch.tensor([0.7, -2.0, 3.5]).view(1, 3, *([1] * ndim))
    x = value.expand((2, 3) + (9,) * ndim).clone()
    y = blur_downsample(x, 2, 3, border)
    torch.testing.assert_close(y, value.expand_as(y), rtol=0, atol=1e-6)


def test_full_zero_pads_a_constant_map():
    """``full`` pads with zeros, so a non-zero constant map gets a darker frame (why full-exact exists)."""
    y = blur_downsample(torch.ones(1, 1, 9, 9), 2, 3, "full")
    assert y[0, 0, 0, 0] < 0.6 and y[0, 0, 2, 2] == 1.0


def _expected_size(n: int, border: str, size: int, stride: int) -> int:
    if BORDERS[border].extent == "valid":
        pad = 0
    elif BORDERS[border].extent == "full":
        pad = 2 * (size - 1)
    else:
        pad = size - 1
    return (n + pad - size) // stride + 1


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("stride", [2, 3])
def test_shape_formula(border, size, stride):
    for n in (7, 8, 12):
        x = torch.randn(2, 3, n, n + 1)
        y = blur_downsample(x, stride, size, border)
        assert y.shape == (2, 3, _expected_size(n, border, size, stride), _expected_size(n + 1, border, size, stride))


@pytest.mark.parametrize("border", SAME_BORDERS)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_same_size_one_is_plain_subsampling(border, ndim):
    x = torch.randn((2, 4) + (7,) * ndim)
    y = blur_downsample(x, 2, 1, border)
    index = (slice(None), slice(None)) + (slice(None, None, 2),) * ndim
    torch.testing.assert_close(y, x[index], rtol=0, atol=0)


@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_full_agrees_with_scipy(size):
    x = torch.randn(1, 1, 11, 10, dtype=torch.float64)
    kernel = blur_filter(size, 2).double().numpy()
    expected = signal.correlate2d(x[0, 0].numpy(), kernel, mode="full")[::2, ::2]
    y = blur_downsample(x, 2, size, "full")
    np.testing.assert_allclose(y[0, 0].numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [3, 5])
def test_same_reflects_as_scipy_mirror(size):
    """Plain ``same`` reflects without repeating the edge (Zhang 2019's ReflectionPad2d)."""
    x = torch.randn(1, 1, 12, 9, dtype=torch.float64)
    kernel = blur_filter(size, 2).double().numpy()
    expected = ndimage.correlate(x[0, 0].numpy(), kernel, mode="mirror")[::2, ::2]
    np.testing.assert_allclose(blur_downsample(x, 2, size, "same")[0, 0].numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("size", [2, 3, 4])
@pytest.mark.parametrize("k", [1, 2])
def test_full_exact_shift_by_twice_k_shifts_output_by_k(ndim, size, k):
    """On a background canvas, a shift of the content by 2k moves the output by exactly k."""
    generator = torch.Generator().manual_seed(0)
    background = torch.tensor([0.3, -1.2]).view(1, 2, *([1] * ndim))
    canvas = background.expand((2, 2) + (14,) * ndim).clone()
    content = torch.randn((2, 2) + (5,) * ndim, generator=generator)
    at = (slice(None), slice(None)) + (slice(3, 8),) * ndim
    moved = (slice(None), slice(None)) + (slice(3 + 2 * k, 8 + 2 * k),) * ndim
    x, x_shifted = canvas.clone(), canvas.clone()
    x[at], x_shifted[moved] = content, content
    y, y_shifted = blur_downsample(x, 2, size, "full-exact"), blur_downsample(x_shifted, 2, size, "full-exact")
    head = (slice(None), slice(None)) + (slice(k, None),) * ndim
    tail = (slice(None), slice(None)) + (slice(None, -k),) * ndim
    torch.testing.assert_close(y_shifted[head], y[tail], rtol=0, atol=1e-6)
    torch.testing.assert_close(y_shifted[tail][(slice(None), slice(None)) + (slice(0, k),) * ndim],
                               background.expand((2, 2) + (k,) * ndim), rtol=0, atol=1e-6)


def test_full_exact_background_argument():
    """A given background is what pads; reading it from the corner gives the same on a clean canvas."""
    x = torch.full((1, 2, 8, 8), 2.0)
    x[:, :, 3:5, 3:5] = torch.randn(1, 2, 2, 2)
    torch.testing.assert_close(blur_downsample(x, 2, 3, "full-exact"),
                               blur_downsample(x, 2, 3, "full-exact", background=2.0))
    assert not torch.allclose(blur_downsample(x, 2, 3, "full-exact", background=0.0),
                              blur_downsample(x, 2, 3, "full-exact"))


def test_border_dims_pads_other_dims_as_same():
    x = torch.randn(1, 2, 6, 8, 8)
    y = blur_downsample(x, (2, 2, 2), 3, "full", border_dims=(1, 2))
    assert y.shape == (1, 2, 3, 5, 5)
    y = blur_downsample(x, (1, 2, 2), 3, "full", border_dims=(1, 2))
    assert y.shape == (1, 2, 6, 5, 5)
    per_frame = blur_downsample(x.reshape(12, 1, 8, 8), 2, 3, "full")
    torch.testing.assert_close(y, per_frame.reshape(1, 2, 6, 5, 5))


def test_module_keeps_state_dict_and_follows_dtype():
    pool = BlurPool(2, 3, "full-exact")
    assert pool.state_dict() == {}
    pool = pool.double()
    x = torch.randn(3, 7, 10, 10, dtype=torch.float64)
    y = pool(x)
    assert y.dtype == torch.float64 and y.shape == (3, 7, 6, 6)
    torch.testing.assert_close(y, blur_downsample(x, 2, 3, "full-exact"))


@pytest.mark.parametrize("border", ["same-partial", "full-exact"])
def test_gradcheck(border):
    x = torch.randn(1, 1, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: blur_downsample(t, 2, 3, border, background=0.5), (x,))


@pytest.mark.parametrize("size", [2, 3])
def test_converted_resnet_with_blurpool_is_exactly_shift_equivariant(size):
    """convert(..., blurpool=True) with full-exact: logits agree for shifts by the total stride (16)."""
    from fullconv.convert import convert
    from fullconv.models import small_resnet

    torch.manual_seed(0)
    model = small_resnet(width=4, stem_stride=2)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.bias.data.normal_()
    item = torch.rand(2, 1, 12, 12)
    a, b = torch.zeros(2, 2, 1, 64, 64)
    a[..., 8:20, 8:20], b[..., 24:36, 40:52] = item, item
    errors = {}
    for border in ("full-exact", "same"):
        net = convert(model, border, blurpool=True, blur_size=size).eval()
        with torch.no_grad():
            ya, yb = net(a), net(b)
        errors[border] = ((ya - yb).abs().max() / ya.abs().max()).item()
    assert errors["full-exact"] < 1e-5 and errors["same"] > 1e-4
