"""Upsampling of a full-exact feature map, read as a window on an infinite background canvas."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor

from .padding import corner_background, crop, pad_constant, pad_periodic

#: background elements added on each side: enough for every tap of bicubic interpolation
_REACH = 2


def interpolate_on_background(x: Tensor, scale_factor: Sequence[int], mode: str,
                              period: Sequence[int] | None = None, keep: int = 0) -> Tensor:
    """``F.interpolate(x, scale_factor=...)`` as if the map continued with its background: a full interpolation.

    Interpolation clamps at the map's edges; where the last elements are content (content that
    touches the canvas edge), that differs from the infinite canvas a ``full-exact`` network
    describes. Padding with the background (the map's first element) first reads beyond the edge
    what the canvas holds there. The left padding's outputs are cropped (pure background); on the
    right the outputs that blend the last elements with the background are kept, as a full
    convolution keeps its border responses, so that a later interpolation finds them.

    Args:
        x: (B, C, *S) with a background first element along each spatial dim.
        scale_factor: one integer per spatial dim.
        mode: as ``F.interpolate`` (``align_corners`` is False).
        period: per spatial dim, the period of ``x``'s background where it repeats
            (:func:`~fullconv.layers.padding.pad_periodic`); ``None``: one value.
        keep: background elements of the left padding whose outputs are kept (at most 1): the
            outputs of the map's first elements blend them with their neighbours, and ``convert()``
            keeps as many pure background outputs in front as the next layer reads the background from.

    Returns:
        (B, C, *(f_i·(S_i + 2 + keep))): element ``j + f_i·keep`` with ``j < f_i·S_i`` is
        ``F.interpolate(x, scale_factor=f, mode=mode)``'s away from the right edge.
    """
    nd = x.dim() - 2
    align = None if mode in ("nearest", "nearest-exact", "area") else False
    factors = tuple(float(f) for f in scale_factor)
    if period is not None and any(p > 1 for p in period):
        # interpolation clamps at the padded map's ends, which continues a constant but not a
        # pattern: one more period element on the right, and the outputs that reach it are dropped
        padded = pad_periodic(x, ((_REACH, _REACH + 1),) * nd, period)
        y = F.interpolate(padded, scale_factor=factors, mode=mode, align_corners=align)
        return crop(y, tuple((-(_REACH - keep) * f, -f) for f in scale_factor))
    padded = pad_constant(x, ((_REACH, _REACH),) * nd, corner_background(x, nd))
    y = F.interpolate(padded, scale_factor=factors, mode=mode, align_corners=align)
    return crop(y, tuple((-(_REACH - keep) * f, 0) for f in scale_factor))
