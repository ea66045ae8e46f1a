"""full_phase_left / valid_phase_left: strided windows centred on multiples of the stride."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fullconv.layers import full_phase_left, valid_phase_left
from fullconv.layers.padding import effective_kernel

MARKER = -1000.0  # padded value: not a position


def _centres(kernel_size: int, dilation: int, stride: int, left: int, size: int = 40) -> list[float]:
    """Input positions at which a strided window padded by ``left`` on the left has its centre tap.

    The input holds its own positions 0..size-1 and a kernel with a single 1 at its centre tap
    (odd kernels) reads them out: output j is the position under window j's centre.
    """
    x = torch.arange(size, dtype=torch.float64).view(1, 1, -1)
    x = F.pad(x, (left, 0), value=MARKER) if left >= 0 else x[..., -left:]
    weight = torch.zeros(1, 1, kernel_size, dtype=torch.float64)
    weight[..., kernel_size // 2] = 1.0
    return [v for v in F.conv1d(x, weight, stride=stride, dilation=dilation).flatten().tolist() if v != MARKER]


@pytest.mark.parametrize("kernel_size, dilation", [(1, 1), (3, 1), (5, 1), (7, 1), (3, 2), (3, 3), (5, 2)])
@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("margin", [0, 1, 5])
def test_full_phase_left_centres_windows_on_multiples_of_the_stride(kernel_size, dilation, stride, margin):
    left = full_phase_left(kernel_size, dilation, stride, margin=margin)
    extent = effective_kernel(kernel_size, dilation) - 1
    assert extent + margin <= left < extent + margin + stride  # keeps every response, and the least that does
    centres = _centres(kernel_size, dilation, stride, left)
    assert centres and all(c % stride == 0 for c in centres)
    # negative control: full padding alone (d·(k-1)) puts them off the grid whenever it is not a multiple
    if (extent // 2 - (extent + margin)) % stride:
        assert any(c % stride for c in _centres(kernel_size, dilation, stride, extent + margin))


@pytest.mark.parametrize("kernel_size, dilation", [(1, 1), (3, 1), (5, 1), (7, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize("stride", [1, 2, 3, 4])
def test_valid_phase_left_crops_the_least_that_centres_windows_on_the_grid(kernel_size, dilation, stride):
    left = valid_phase_left(kernel_size, dilation, stride)
    assert -stride < left <= 0  # never pads, crops less than one output step
    centres = _centres(kernel_size, dilation, stride, left)
    assert centres and all(c % stride == 0 for c in centres)


def test_branches_of_different_kernels_sample_the_same_positions():
    # a residual block's 3×3 stride-2 conv and its 1×1 stride-2 shortcut, both on the canonical grid
    conv = _centres(3, 1, 2, full_phase_left(3, 1, 2))
    shortcut = _centres(1, 1, 2, full_phase_left(1, 1, 2))
    assert set(shortcut) <= set(conv)
    # negative control: plain full padding of the 3×3 conv (2) samples the odd positions
    assert not set(_centres(3, 1, 2, 2)) & set(shortcut)


@settings(max_examples=200, deadline=None)
@given(kernel_size=st.integers(1, 9), dilation=st.integers(1, 4), stride=st.integers(1, 5),
       margin=st.integers(0, 6), numerator=st.integers(-12, 12), denominator=st.sampled_from([1, 2, 4, 8]))
def test_input_phase_moves_the_centres_onto_the_grid(kernel_size, dilation, stride, margin, numerator, denominator):
    # an input whose first element sits at ``phase`` input steps: window j's centre is at
    # phase + j·s - left + (d·(k-1))/2, and its floor must be a multiple of s for every j
    phase = Fraction(numerator, denominator)
    half = Fraction(effective_kernel(kernel_size, dilation) - 1, 2)
    extent = effective_kernel(kernel_size, dilation) - 1
    full = full_phase_left(kernel_size, dilation, stride, margin=margin, phase=phase)
    valid = valid_phase_left(kernel_size, dilation, stride, phase=phase)
    assert extent + margin <= full < extent + margin + stride
    assert -stride < valid <= 0
    for left in (full, valid):
        assert all(math.floor(phase + j * stride - left + half) % stride == 0 for j in range(4))
