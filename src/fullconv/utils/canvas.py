"""Putting content on a canvas of background: the one placement every data set and metric uses."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def place_on_canvas(content: Tensor, canvas_size: Sequence[int], offset: Sequence[int],
                    background: float | Tensor = 0.0) -> Tensor:
    """Paste ``content`` on a canvas of ``background`` with its first element at ``offset``.

    Args:
        content: (B, C, *S) images (or clips).
        canvas_size: spatial size of the canvas, one entry per spatial dim.
        offset: position of ``content[..., 0, 0]`` on the canvas, one entry per spatial dim.
        background: a number or a per-channel tensor (C,).

    Returns:
        (B, C, *canvas_size), of ``content``'s dtype and device.

    Example:
        >>> place_on_canvas(torch.ones(1, 1, 2, 2), (4, 4), (1, 2))[0, 0]
        tensor([[0., 0., 0., 0.],
                [0., 0., 1., 1.],
                [0., 0., 1., 1.],
                [0., 0., 0., 0.]])
    """
    return place_each(content, canvas_size, [list(offset)] * len(content), background)


def place_each(content: Tensor, canvas_size: Sequence[int], offsets: Sequence[Sequence[int]] | Tensor,
               background: float | Tensor = 0.0) -> Tensor:
    """Like :func:`place_on_canvas`, with one offset per item: ``content[i]`` lies at ``offsets[i]``.

    Args:
        content: (B, C, *S).
        canvas_size: spatial size of the canvas, one entry per spatial dim.
        offsets: (B, len(S)) integer positions of each item's first element.
        background: a number or a per-channel tensor (C,).

    Returns:
        (B, C, *canvas_size).

    Example:
        >>> place_each(torch.ones(2, 1, 1, 1), (2, 2), [(0, 0), (1, 1)])[:, 0]
        tensor([[[1., 0.],
                 [0., 0.]],
        <BLANKLINE>
                [[0., 0.],
                 [0., 1.]]])
    """
    n = len(canvas_size)
    offsets = offsets.tolist() if isinstance(offsets, Tensor) else [list(o) for o in offsets]
    if content.dim() != n + 2 or len(offsets) != len(content) or any(len(o) != n for o in offsets):
        raise ValueError(f"content (B, C, *S) with {n} spatial dims and one offset of {n} entries per item expected; "
                         f"got content {tuple(content.shape)} and {len(offsets)} offsets")
    extents = content.shape[2:]
    for offset in offsets:
        if any(start < 0 or start + extent > size for size, start, extent in zip(canvas_size, offset, extents)):
            raise ValueError(f"content of size {tuple(extents)} at offset {tuple(offset)} does not fit "
                             f"a canvas of {tuple(canvas_size)}; use a larger canvas or smaller offsets")
    value = torch.as_tensor(background, dtype=content.dtype, device=content.device)
    if value.dim() == 1:
        value = value.view((1, -1) + (1,) * n)
    canvas = value.expand(tuple(content.shape[:2]) + tuple(canvas_size)).clone()
    if offsets and all(o == offsets[0] for o in offsets):  # one slice assignment for the whole batch
        canvas[(slice(None), slice(None)) + _window(offsets[0], extents)] = content
        return canvas
    for i, offset in enumerate(offsets):
        canvas[(i, slice(None)) + _window(offset, extents)] = content[i]
    return canvas


def _window(offset: Sequence[int], extents: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(o, o + e) for o, e in zip(offset, extents))
