"""Aligning feature maps where branches meet (residual additions, concatenations).

Each map samples the input on a grid ``anchor + i·stride`` per spatial dim. ``convert()`` tracks
those grids through the graph; where branches meet it knows, per input, how many grid steps
it starts after the earliest one. :func:`align` pads (or, for ``valid``, crops) every input so
that equal indices mean equal positions in the input image.
"""
from __future__ import annotations

from typing import Sequence, get_args

from torch import Tensor

from .borders import AlignFill, Border, get_border
from .padding import corner_background, crop, pad_constant, pad_periodic


def align(tensors: Sequence[Tensor], offsets: Sequence[Sequence[int]], border: str | Border | AlignFill,
          border_ndim: int | None = None, periods: Sequence[Sequence[int] | None] | None = None,
          axes: Sequence[int] | None = None) -> tuple[Tensor, ...]:
    """Align maps whose grids are shifted by whole steps.

    Args:
        tensors: maps (B, C_i, *S_i) over the same ``n`` trailing spatial dims and the same stride.
        offsets: per tensor, per spatial dim, how many grid steps its first element lies after
            the earliest first element among ``tensors`` (all >= 0).
        border: a border (name or :class:`~fullconv.layers.Border`), or directly its
            :attr:`~fullconv.layers.Border.align_fill` (``convert()``'s graphs pass that string):
            ``valid`` keeps the positions every map has (crops); the other variants keep all
            positions of every map and pad the missing ones: ``full-exact`` with each map's own
            background (its first element), the others with zeros.
        border_ndim: how many trailing dims carry the border's background (default all ``n``;
            2 for a 3-D network whose border covers height and width only: the background is then
            read per frame).
        periods: ``background`` fill: per tensor, the period per spatial dim of a background that
            repeats (:func:`~fullconv.layers.padding.pad_periodic`), or ``None`` for a constant one.
        axes: where the spatial dims are, the same in every map, when they are not the trailing
            ones (channels-last maps (B, H, W, C): ``(1, 2)``).

    Returns:
        the maps with equal spatial sizes, element ``i`` of each at the same input position.

    Example:
        >>> import torch
        >>> a, b = torch.ones(1, 4, 4, 2), torch.ones(1, 2, 2, 2)   # channels-last, b one step later
        >>> [t.shape for t in align((a, b), ((0, 0), (1, 1)), "full", axes=(1, 2))]
        [torch.Size([1, 4, 4, 2]), torch.Size([1, 4, 4, 2])]
    """
    n = len(offsets[0])
    if axes:
        def last(t: Tensor) -> tuple[int, ...]:
            return tuple(range(t.dim() - n, t.dim()))
        aligned = align([t.movedim(tuple(axes), last(t)) for t in tensors], offsets, border, border_ndim, periods)
        return tuple(t.movedim(last(t), tuple(axes)) for t in aligned)
    fill = border if border in get_args(AlignFill) else get_border(border).align_fill
    if fill == "crop":
        shift = [max(o[d] for o in offsets) for d in range(n)]
        cropped = [crop(t, [(-(shift[d] - o[d]), 0) for d in range(n)]) for t, o in zip(tensors, offsets)]
        size = [min(t.shape[t.dim() - n + d] for t in cropped) for d in range(n)]
        return tuple(crop(t, [(0, -(t.shape[t.dim() - n + d] - size[d])) for d in range(n)]) for t in cropped)
    end = [max(o[d] + t.shape[t.dim() - n + d] for t, o in zip(tensors, offsets)) for d in range(n)]
    out = []
    for i, (t, o) in enumerate(zip(tensors, offsets)):
        pads = [(o[d], end[d] - o[d] - t.shape[t.dim() - n + d]) for d in range(n)]
        period = periods[i] if periods is not None else None
        if fill == "background" and period is not None and any(p > 1 for p in period):
            out.append(pad_periodic(t, pads, period))
            continue
        value = corner_background(t, border_ndim or n) if fill == "background" else 0.0
        out.append(pad_constant(t, pads, value))
    return tuple(out)


def crop_to(x: Tensor, start: Sequence[int], reference: Tensor) -> Tensor:
    """The window of ``x`` that starts at ``start`` and has the spatial size of ``reference``.

    Args:
        x: (B, C, *S), n trailing spatial dims.
        start: per spatial dim, the index of ``x`` where the window begins (>= 0).
        reference: (..., *R) whose trailing n dims give the window's size.

    Returns:
        (B, C, *R).
    """
    n = len(start)
    size = reference.shape[reference.dim() - n:]
    index = [slice(None)] * (x.dim() - n) + [slice(s, s + r) for s, r in zip(start, size)]
    return x[tuple(index)]
