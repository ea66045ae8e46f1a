"""BorderPool: the pooling rule of each border variant, its shape formula and the exactness of full-exact."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import signal

from fullconv.layers import BORDERS, SAME_BORDERS, BorderPool

POOLS = {("max", 1): nn.MaxPool1d, ("max", 2): nn.MaxPool2d, ("max", 3): nn.MaxPool3d,
         ("avg", 1): nn.AvgPool1d, ("avg", 2): nn.AvgPool2d, ("avg", 3): nn.AvgPool3d}


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("nd, kernel_size, stride", [(1, 3, 2), (2, 3, 2), (2, 2, 2), (3, 3, 1), (2, 5, 3)])
def test_shape_formula(border, kind, nd, kernel_size, stride):
    pool = BorderPool(kind, nd, kernel_size, stride, border=border)
    size = (11, 9, 8)[:nd]
    y = pool(torch.rand(2, 3, *size))
    expected = [(s + left + right - (kernel_size - 1) - 1) // stride + 1 for s, (left, right) in zip(size, pool.pads)]
    assert y.shape == (2, 3, *expected)
    extent = BORDERS[border].extent
    assert pool.pads == ((kernel_size - 1, kernel_size - 1) if extent == "full" else (0, 0) if extent == "valid"
                         else ((kernel_size - 1) // 2, kernel_size - 1 - (kernel_size - 1) // 2),) * nd


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_same_with_the_layer_padding_is_torch_pooling(kind, nd):
    # what convert() builds for a same-border pooling layer: its own padding, -inf for max, zeros for avg
    x = torch.randn(2, 3, *(9, 8, 7)[:nd], dtype=torch.float64)
    pool = BorderPool(kind, nd, 3, 2, border="same", pads=((1, 1),) * nd)
    torch.testing.assert_close(pool(x), POOLS[kind, nd](3, 2, padding=1)(x), rtol=0, atol=0)


def test_max_dilation_matches_torch():
    x = torch.randn(1, 2, 13, 12, dtype=torch.float64)
    pool = BorderPool("max", 2, 3, 1, dilation=2, border="same", pads=((2, 2),) * 2)
    # (torch's own padding may not exceed half the undilated kernel)
    reference = F.max_pool2d(F.pad(x, (2, 2, 2, 2), value=float("-inf")), 3, 1, dilation=2)
    torch.testing.assert_close(pool(x), reference, rtol=0, atol=0)


@pytest.mark.parametrize("kernel_size", [2, 3, 4])
def test_full_avg_is_scipy_full_correlation_over_the_window_size(kernel_size):
    x = np.random.default_rng(0).standard_normal((7, 6))
    pool = BorderPool("avg", 2, kernel_size, 1, border="full")
    y = pool(torch.from_numpy(x)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(y, signal.correlate(x, np.ones((kernel_size, kernel_size)), mode="full")
                               / kernel_size ** 2, rtol=1e-12, atol=1e-12)


def test_full_max_after_relu_keeps_every_response():
    # zeros as padding equal -inf on a non-negative map: every window that touches the map sees it
    x = torch.relu(torch.randn(1, 2, 7, 6, dtype=torch.float64))
    y = BorderPool("max", 2, 3, 1, border="full")(x)
    reference = F.max_pool2d(F.pad(x, (2, 2, 2, 2), value=float("-inf")), 3, 1)
    torch.testing.assert_close(y, reference, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_full_exact_pools_background_to_background(kind, nd):
    x = torch.full((2, 3, *(6, 5, 4)[:nd]), -0.75, dtype=torch.float64)
    y = BorderPool(kind, nd, 3, 2, border="full-exact")(x)
    assert torch.equal(y, torch.full_like(y, -0.75))
    # the same with zero padding pools the background with the zeros around it
    if kind == "avg":
        assert not torch.equal(BorderPool(kind, nd, 3, 2, border="full")(x), y)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_full_exact_is_exactly_shift_equivariant_on_a_background(kind):
    background = -0.7  # below zero, so that zero padding shows in max pooling too
    canvas = torch.full((1, 2, 12, 12), background, dtype=torch.float64)
    item = torch.randn(1, 2, 3, 4, dtype=torch.float64)
    here, there = canvas.clone(), canvas.clone()
    here[..., 2:5, 3:7] = item
    there[..., 5:8, 4:8] = item  # moved by (3, 1)
    for border, exact in (("full-exact", True), ("full", False)):
        pool = BorderPool(kind, 2, 3, 1, border=border)
        y_here, y_there = pool(here), pool(there)
        equal = torch.equal(y_there[..., 3:, 1:], y_here[..., :-3, :-1])
        assert equal is exact, border  # full: the zeros at the edges make the shift visible


def test_full_exact_background_argument_is_the_padded_value():
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    y = BorderPool("avg", 2, 3, 3, border="full-exact", background=0.9)(x)
    # window 0 covers two padded rows and columns (value 0.9) and a 1×1 corner of the map
    assert y[0, 0, 0, 0].item() == pytest.approx(0.9 * 8 / 9, abs=1e-15)


def test_border_dims_pad_time_plainly_and_space_with_the_background():
    x = torch.full((1, 1, 4, 5, 5), 1.5, dtype=torch.float64)
    pool = BorderPool("avg", 3, 3, 1, border="full-exact", pads=((1, 1), (2, 2), (2, 2)), border_dims=(1, 2))
    y = pool(x)
    assert y.shape == (1, 1, 4, 7, 7)
    # time (outside border_dims) is padded with zeros: the first and last frames average one padded frame
    assert torch.equal(y[:, :, 1:-1], torch.full_like(y[:, :, 1:-1], 1.5))
    assert torch.equal(y[:, :, [0, -1]], torch.full_like(y[:, :, [0, -1]], 1.0))


@pytest.mark.parametrize("border", SAME_BORDERS + ("valid",))
def test_max_same_and_valid_never_invent_a_value(border):
    # -inf (or no) padding: every output is one of the input's values
    x = torch.randn(1, 1, 7, 7, dtype=torch.float64)
    y = BorderPool("max", 2, 3, 2, border=border, pads=None if border == "valid" else ((1, 1), (1, 1)))(x)
    assert set(y.flatten().tolist()) <= set(x.flatten().tolist())


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="min", nd=2, kernel_size=3), "unknown pooling kind 'min'"),
    (dict(kind="avg", nd=2, kernel_size=3, dilation=2), "average pooling has no dilation"),
    (dict(kind="max", nd=2, kernel_size=3, border="fulll"), "unknown border 'fulll'; choose one of"),
])
def test_exception(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BorderPool(**kwargs)


def test_gradcheck():
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BorderPool("avg", 2, 3, 2, border="full-exact"), (x,))
