"""Sampling grids: where a converted map's elements come from, and how a layer places itself on one.

A layer knows the grid it outputs given the grid it receives (:meth:`GridWindow.place`,
:meth:`~fullconv.layers.conv._BorderConvTransposeMixin.place`); ``convert()`` walks the graph
and asks each layer, it does not re-derive their geometry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .padding import effective_kernel


@dataclass(frozen=True)
class Grid:
    """Where a converted map's elements come from, per spatial dim.

    Element ``j`` of the converted map is element ``j - lead`` of the original model's map (an
    extra border response where that index is outside the original map); neighbours are
    ``stride`` input steps apart.

    Example:
        >>> from fullconv.layers import BorderConv2d
        >>> conv = BorderConv2d(1, 1, 3, stride=2, border="full")
        >>> conv.place(Grid((0, 0), (1, 1)), origin=(1, 1))   # the original conv padded 1
        Grid(lead=(1, 1), stride=(2, 2), rank=4, phase=(), period=(), axes=())
        >>> conv.pads   # left: 2·1 + 1 - 0 = 3 keeps the original positions; right: the border's 2
        ((3, 2), (3, 2))
    """

    lead: tuple[int, ...]
    stride: tuple[int, ...]
    #: dims of the tensor (batch, channels, ..., then the spatial ones); a reduction over leading
    #: dims (SKNet's sum over its branches) keeps the grid
    rank: int | None = None
    #: ``downsample="polyphase"``: the per-sample phase choices this map was subsampled with, one
    #: key per resolution level. Sample ``b``'s element ``j`` is then the original index
    #: ``j - lead + φ_b`` with ``φ_b`` in [0, 1) set by those choices; maps with the same choices
    #: have the same ``φ_b`` for every sample, so they align by ``lead`` alone.
    phase: tuple = ()
    #: ``full-exact``: per spatial dim, the period of the map's background where it repeats
    #: (after a strided transposed convolution, whose response to a constant alternates with its
    #: stride); ``()``: one value. The map's first ``period`` elements along each dim are pure
    #: background, and every layer that reads the background pads with that pattern
    #: (:func:`~fullconv.layers.padding.pad_periodic`).
    period: tuple[int, ...] = ()
    #: where the spatial dims are in the tensor, one position per spatial dim, when a permute
    #: moved them (a channels-last (B, H, W, C) block of ConvNeXt: ``(1, 2)``); ``()``: the
    #: trailing dims, in order, as window layers need them
    axes: tuple[int, ...] = ()

    def periods(self) -> tuple[int, ...]:
        """``period`` with one entry per spatial dim (1 where the background is one value)."""
        return self.period or (1,) * len(self.lead)

    @property
    def periodic(self) -> bool:
        return any(p > 1 for p in self.period)


def period_field(period: Sequence[int]) -> tuple[int, ...]:
    """A period for :class:`Grid`: ``()`` when it is 1 along every dim."""
    return tuple(period) if any(p > 1 for p in period) else ()


def strided_period(period: Sequence[int], stride: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Period of a strided window layer's output, and the margin (padding beyond the window's reach)
    that keeps its first ``period`` outputs pure background, per dim.

    Output ``j`` reads inputs from ``s·j - p``: a background of period ``P`` gives outputs of period
    ``P / gcd(P, s)``, and with the input's first ``P`` elements background and ``p = reach + m``,
    the first ``ceil((P + m) / s)`` outputs are background, which needs ``m >= s·(P_out - 1) + 1 - P``.

    Example:
        >>> strided_period((6, 1), (2, 2))   # a period-6 background subsampled by 2: period 3
        ((3, 1), (0, 0))
    """
    out = tuple(p // math.gcd(p, s) for p, s in zip(period, stride))
    margin = tuple(max(0, s * (q - 1) + 1 - p) for p, s, q in zip(period, stride, out))
    return out, margin


class GridWindow:
    """How a window layer (convolution, pooling, blur) places itself on its input's grid.

    The layer provides ``border``, ``border_dims``, ``pads`` and :meth:`window` (kernel, dilation
    and stride per spatial dim); :meth:`place` sets its left padding and, under ``full-exact``, the
    period of the background it pads with.
    """

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Kernel, dilation and stride per spatial dim."""
        raise NotImplementedError

    def place(self, grid: Grid, origin: Sequence[int], margin: int = 0, phased: bool = False) -> Grid:
        """Set the left padding so that the outputs keep the original layer's sampling positions,
        and return the output grid.

        Output ``i`` of the original layer (left padding ``p_o``, the ``origin``) reads input
        indices from ``s·i - p_o``; output ``j`` of this one from ``s·j - p`` of a map whose element
        ``j`` is the original's ``j - lead_in``. So ``j = i + lead_out`` when
        ``p = s·lead_out + p_o - lead_in``: ``full`` variants take the smallest ``lead_out`` with
        ``p >= d·(k-1) + margin`` (the first output is then computed from padding and the input's
        first element only), ``valid`` the largest with ``p <= 0`` (:meth:`Border.strided_lead
        <fullconv.layers.Border.strided_lead>`). The margin is at least what keeps a periodic
        background's first period pure background (:func:`strided_period`).

        A ``phased`` layer (``downsample="polyphase"``) keeps outputs ``s·j + q`` with ``q < s``
        chosen per sample: ``s - 1`` more padding on the left keeps its first output background
        whatever ``q``. The right needs none: output ``j`` reads from ``s·j + q`` on, so the last
        output that reaches the input's last element is ``floor((left + n - 1 - q) / s)``, never
        past the last output ``floor((left + n + right - reach - 1) / s)`` while ``right >= reach``.

        Raises:
            ValueError: a dim outside ``border_dims`` (whose padding stays the original's) on
                which the original positions cannot be kept.
        """
        kernel, dilation, stride = self.window()
        exact = self.border.exact
        if exact and grid.periodic:
            self.background_period = grid.periods()
        period, needed = strided_period(grid.periods(), stride)
        pads, lead = list(self.pads), []
        for dim, (s, p_o, lead_in, m) in enumerate(zip(stride, origin, grid.lead, needed)):
            extra = s - 1 if phased else 0
            if dim in self.border_dims:
                reach = effective_kernel(kernel[dim], dilation[dim]) - 1
                lead_out = self.border.strided_lead(reach, s, p_o, lead_in, max(margin, m) + extra)
            else:  # a dim that keeps the original padding
                lead_out, rest = divmod(pads[dim][0] - p_o + lead_in, s)
                if rest:
                    raise ValueError(f"cannot keep the original sampling positions along dim {dim}; "
                                     f"use dims='spacetime'")
            pads[dim] = (s * lead_out + p_o - lead_in, pads[dim][1])  # phased: the extra on the left only
            lead.append(lead_out)
        self.pads = tuple(pads)
        return Grid(tuple(lead), tuple(t * s for t, s in zip(grid.stride, stride)), len(stride) + 2, grid.phase,
                    period_field(period) if exact else ())
