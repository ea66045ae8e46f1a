"""Backgrounds that repeat: ``pad_periodic`` and ``interpolate_on_background`` against the same
map cut from a long periodic canvas (element ``j`` outside the map is element ``j mod P``)."""
import pytest
import torch
import torch.nn.functional as F

from fullconv.layers import corner_background, pad_constant, pad_periodic
from fullconv.layers.upsample import interpolate_on_background


def _periodic_reference(x: torch.Tensor, pads, period) -> torch.Tensor:
    """Index arithmetic, one dim at a time: position ``j`` of the padded map is ``x[j]`` inside and
    ``x[j mod P]`` outside."""
    first = x.dim() - len(pads)
    for i, ((left, right), p) in enumerate(zip(pads, period)):
        n, dim = x.shape[first + i], first + i
        j = torch.arange(-left, n + right)
        inside = (j >= 0) & (j < n)
        x = x.index_select(dim, torch.where(inside, j, j % p).clamp(0, n - 1))
    return x


@pytest.mark.parametrize("pads, period", [(((5, 3),), (2,)), (((4, 7), (1, 9)), (3, 2)), (((0, 6), (6, 0)), (4, 1))])
def test_pad_periodic_continues_the_pattern(pads, period):
    x = torch.randn((2, 3) + tuple(7 + d for d in range(len(pads))), dtype=torch.float64)
    y = pad_periodic(x, pads, period)
    assert y.shape[2:] == tuple(n + left + right for n, (left, right) in zip(x.shape[2:], pads))
    torch.testing.assert_close(y, _periodic_reference(x, pads, period), rtol=0, atol=0)


def test_pad_periodic_with_period_one_is_constant_background_padding():
    """On a map whose first row and column are its background (as convert() keeps them)."""
    x = torch.randn(1, 2, 1, 1).expand(1, 2, 5, 6).clone()
    x[..., 1:, 1:] = torch.randn(1, 2, 4, 5)
    pads = ((2, 3), (4, 1))
    torch.testing.assert_close(pad_periodic(x, pads, (1, 1)), pad_constant(x, pads, corner_background(x, 2)),
                               rtol=0, atol=0)


def test_pad_periodic_crops_negative_amounts_first():
    x = torch.arange(8.).view(1, 1, 8)
    # crop 2 on the right, then the left padding continues the (uncropped) first period
    assert pad_periodic(x, ((3, -2),), (2,))[0, 0].tolist() == [1., 0., 1., 0., 1., 2., 3., 4., 5.]


def test_pad_periodic_refuses_a_map_shorter_than_its_period():
    with pytest.raises(ValueError, match="cannot hold its background's period 4"):
        pad_periodic(torch.zeros(1, 1, 3), ((1, 1),), (4,))


@pytest.mark.parametrize("mode, factors, period, keep", [
    ("linear", (3,), (2,), 0), ("linear", (2,), (6,), 1), ("nearest", (3,), (2,), 0),
    ("bilinear", (2, 3), (2, 3), 1), ("bilinear", (3, 2), (4, 1), 0), ("nearest", (2, 2), (3, 2), 1)])
def test_periodic_interpolation_is_the_long_canvas_one(mode, factors, period, keep):
    """The map's background continues on both sides: the upsampled map is the upsampled long
    canvas, from ``keep`` background elements before the map's first."""
    nd = len(factors)
    x = torch.randn((1, 2) + (9,) * nd, dtype=torch.float64)
    y = interpolate_on_background(x, factors, mode, period, keep)
    far = 12
    long = pad_periodic(x, ((far, far),) * nd, period)
    align = None if mode == "nearest" else False
    ref = F.interpolate(long, scale_factor=tuple(float(f) for f in factors), mode=mode, align_corners=align)
    for d, f in enumerate(factors):
        ref = ref.narrow(2 + d, (far - keep) * f, f * (9 + 2 + keep))
    assert y.shape == ref.shape
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)


def test_a_constant_background_does_not_continue_a_periodic_one():
    """Negative control for the test above: padding with the corner value is wrong on period 2."""
    x = torch.randn(1, 2, 9, dtype=torch.float64)
    far = 12
    ref = F.interpolate(pad_periodic(x, ((far, far),), (2,)), scale_factor=3.0, mode="linear", align_corners=False)
    y = interpolate_on_background(x, (3,), "linear")
    assert (y - ref.narrow(2, far * 3, y.shape[-1])).abs().max() > 1e-3
