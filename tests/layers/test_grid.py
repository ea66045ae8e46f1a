"""A layer places itself on its input's grid (layers.grid): the placed layer computes the original
layer's outputs, each at the index its output grid says."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fullconv.layers import BlurPool, BorderConv1d, BorderConvTranspose1d, BorderPool
from fullconv.layers import Grid

WINDOWS = [(3, 1, 1, 1), (3, 2, 1, 1), (3, 2, 2, 2), (4, 3, 1, 0), (2, 2, 1, 0), (5, 2, 1, 2), (1, 2, 1, 0)]


def _placed_conv(border: str, kernel: int, stride: int, dilation: int, origin: int, lead_in: int):
    """The original conv (padding ``origin``) on x, and a border conv placed on a map whose element
    ``j`` is x's ``j - lead_in`` (zeros before x, as the original pads; x cut where lead_in < 0)."""
    torch.manual_seed(kernel + 7 * stride + 31 * origin)
    original = nn.Conv1d(1, 1, kernel, stride, padding=origin, dilation=dilation, bias=False).double()
    conv = BorderConv1d(1, 1, kernel, stride, dilation, bias=False, border=border).double()
    conv.weight = original.weight
    grid = conv.place(Grid((lead_in,), (2,)), (origin,))
    x = torch.randn(1, 1, 13, dtype=torch.float64)
    canvas = F.pad(x, (lead_in, 0)) if lead_in >= 0 else x[..., -lead_in:]
    return original(x), conv, canvas, grid


def _matches(reference: torch.Tensor, y: torch.Tensor, lead: int) -> int:
    """How many original outputs the placed layer has, at ``index + lead``; fails on a mismatch."""
    indices = [i for i in range(reference.shape[-1]) if 0 <= i + lead < y.shape[-1]]
    for i in indices:
        assert torch.allclose(y[..., i + lead], reference[..., i], rtol=0, atol=1e-12), (i, lead)
    return len(indices)


@pytest.mark.parametrize("kernel,stride,dilation,origin", WINDOWS)
@pytest.mark.parametrize("lead_in", [0, 1, 4])
def test_a_placed_full_convolution_keeps_every_original_output(kernel, stride, dilation, origin, lead_in):
    reference, conv, canvas, grid = _placed_conv("full", kernel, stride, dilation, origin, lead_in)
    assert grid.stride == (2 * stride,) and grid.rank == 3
    assert _matches(reference, conv(canvas), grid.lead[0]) == reference.shape[-1]   # all of them
    # the first output reads padding and the input's first element only (its left padding >= reach)
    assert conv.pads[0][0] >= dilation * (kernel - 1)


@pytest.mark.parametrize("kernel,stride,dilation,origin", WINDOWS)
@pytest.mark.parametrize("lead_in", [0, -1, -3])
def test_a_placed_valid_convolution_keeps_the_original_outputs_it_computes(kernel, stride, dilation, origin,
                                                                           lead_in):
    reference, conv, canvas, grid = _placed_conv("valid", kernel, stride, dilation, origin, lead_in)
    assert conv.pads[0][0] <= 0 and grid.lead[0] <= 0
    assert _matches(reference, conv(canvas), grid.lead[0]) >= 1


def test_a_misplaced_convolution_does_not_match():
    """Negative control: one more step of left padding moves every output by a fraction of the stride."""
    reference, conv, canvas, grid = _placed_conv("full", 3, 2, 1, 1, 1)
    conv.pads = ((conv.pads[0][0] + 1, conv.pads[0][1]),)
    with pytest.raises(AssertionError):
        _matches(reference, conv(canvas), grid.lead[0])


@pytest.mark.parametrize("border", ["full", "full-exact", "valid"])
@pytest.mark.parametrize("kernel,stride,origin", [(2, 2, 0), (3, 2, 1), (4, 2, 1), (3, 3, 0)])
def test_a_placed_transposed_convolution_keeps_the_original_outputs(border, kernel, stride, origin):
    torch.manual_seed(kernel + stride)
    original = nn.ConvTranspose1d(1, 1, kernel, stride, padding=origin, bias=False).double()
    up = BorderConvTranspose1d(1, 1, kernel, stride, border=border, bias=False).double()
    up.weight = original.weight
    grid = up.place(Grid((2,), (stride,)), (origin,))
    assert grid.stride == (1,)
    x = torch.randn(1, 1, 6, dtype=torch.float64)
    canvas = F.pad(x, (2, 0))   # element j is x's j - 2; the zeros are the background (full-exact)
    reference = original(x)
    kept = _matches(reference, up(canvas), grid.lead[0])
    assert kept == reference.shape[-1] if border != "valid" else kept >= 1


def test_a_transposed_convolution_must_divide_the_maps_stride():
    up = BorderConvTranspose1d(1, 1, 2, 2, border="full")
    with pytest.raises(ValueError, match="stride must divide"):
        up.place(Grid((0,), (1,)), (0,))


def test_pools_and_blur_place_by_their_own_windows():
    """A max pool and a blur place as a convolution of their kernel, dilation and stride does."""
    pool = BorderPool("max", 1, 3, 2, border="full")
    conv = BorderConv1d(1, 1, 3, 2, border="full")
    assert pool.place(Grid((1,), (2,)), (1,)) == conv.place(Grid((1,), (2,)), (1,)) and pool.pads == conv.pads
    blur = BlurPool(2, 3, "full", ndim=1)
    assert blur.window() == ((3,), (1,), (2,))
    assert blur.place(Grid((1,), (2,)), (1,)) == conv.place(Grid((1,), (2,)), (1,)) and blur.pads == conv.pads
