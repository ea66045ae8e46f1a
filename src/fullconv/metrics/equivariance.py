"""Translation equivariance of a network, measured by placing content on a canvas.

A ``full-exact`` network is exactly translation-equivariant on an infinite canvas for shifts
that are multiples of its total stride; these functions measure how far any network is from that.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from ..utils.canvas import place_on_canvas


def relative_difference(a: Tensor, b: Tensor) -> float:
    """``max|a - b| / max|a|`` (0 when both are zero)."""
    scale = a.abs().max().item()
    diff = (a - b).abs().max().item()
    return diff / scale if scale > 0 else diff


@torch.no_grad()
def canvas_shift_error(model: Callable[[Tensor], Tensor], content: Tensor, canvas_size: Sequence[int],
                       offsets: Sequence[Sequence[int]], background: float | Tensor = 0.0) -> float:
    """Largest relative difference of the outputs of ``model`` for ``content`` placed at ``offsets``.

    For an invariant network (global pooling head) and offsets that differ by multiples of its
    total stride, a ``full-exact`` network gives 0 up to rounding.

    Args:
        model: maps (B, C, *canvas_size) to (B, K) outputs.
        content: (B, C, *S).
        canvas_size: spatial canvas size.
        offsets: at least two placements, each one offset per spatial dim.

    Returns:
        max over offsets of ``max|f(o_i) - f(o_0)| / max|f(o_0)|``.
    """
    if len(offsets) < 2:
        raise ValueError("canvas_shift_error needs at least two offsets to compare")
    reference = model(place_on_canvas(content, canvas_size, offsets[0], background))
    return max(relative_difference(reference, model(place_on_canvas(content, canvas_size, o, background)))
               for o in offsets[1:])


@torch.no_grad()
def feature_equivariance_error(features: Callable[[Tensor], Tensor], content: Tensor, canvas_size: Sequence[int],
                               offset: Sequence[int], shift: Sequence[int], stride: Sequence[int] | int,
                               background: float | Tensor = 0.0) -> float:
    """Relative error of ``features(T_shift x) == T_{shift/stride} features(x)``.

    ``content`` is placed at ``offset`` and at ``offset + shift``; the second feature map is
    moved back by ``shift / stride`` elements and compared with the first on the positions
    both maps hold.

    Args:
        features: maps (B, C, *canvas_size) to feature maps (B, C', *S').
        content: (B, C, *S).
        shift: per spatial dim, a multiple of ``stride`` (the features' total stride).
        stride: total stride of ``features`` (one int or one per dim).

    Returns:
        ``max|difference| / max|features|`` on the common positions.
    """
    n = len(canvas_size)
    strides = (stride,) * n if isinstance(stride, int) else tuple(stride)
    if any(s % t for s, t in zip(shift, strides)):
        raise ValueError(f"shift {tuple(shift)} must be a multiple of the stride {strides} per dim")
    steps = [s // t for s, t in zip(shift, strides)]
    first = features(place_on_canvas(content, canvas_size, offset, background))
    moved = [o + s for o, s in zip(offset, shift)]
    second = features(place_on_canvas(content, canvas_size, moved, background))
    if first.shape != second.shape:
        raise ValueError(f"feature maps differ in shape ({tuple(first.shape)} vs {tuple(second.shape)})")
    keep_first = [slice(None), slice(None)] + [slice(0, first.shape[2 + d] - max(k, 0)) if k >= 0 else
                                               slice(-k, None) for d, k in enumerate(steps)]
    keep_second = [slice(None), slice(None)] + [slice(k, None) if k >= 0 else
                                                slice(0, second.shape[2 + d] + k) for d, k in enumerate(steps)]
    return relative_difference(first[tuple(keep_first)], second[tuple(keep_second)])

