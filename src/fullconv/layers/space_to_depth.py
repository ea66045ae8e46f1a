"""Space-to-depth with a border variant: TResNet's stem, padded as a ``b×b``/stride-``b`` window.

Space-to-depth (timm's ``SpaceToDepth``, TResNet's stem) moves each ``b×b`` block of a map into
the channels: output ``(i·b + j)·C + c`` at ``(y, x)`` is input channel ``c`` at
``(b·y + i, b·x + j)``. That is a ``b×b`` convolution of stride ``b`` with one-hot weights, so its
border is a window layer's: ``full`` pads ``b - 1`` on each side, ``valid`` keeps whole blocks,
``full-exact`` pads with the background, and ``convert()`` places it on its grid like a strided
convolution. The blocks are rearranged, not multiplied: the output is bit-exact.
"""
from __future__ import annotations

from typing import Sequence

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .borders import Border, get_border
from .grid import GridWindow
from .padding import corner_background, crop, pad_periodic
from .polyphase import window_at_phase


class SpaceToDepth(GridWindow, nn.Module):
    """Space-to-depth of 2-D maps with a border variant (see the module docstring).

    Args:
        block: the block size ``b`` (stride and window).
        border: a name from ``fullconv.BORDERS`` or a :class:`~fullconv.layers.Border`; ``same``
            variants pad nothing (the original layer's amounts).
        pads: explicit ``(left, right)`` per spatial dim (negative crops); default from the border.
        background: ``full-exact``: the padded value of the network input (a number or a
            (1, C, 1, 1) tensor); ``None`` reads it from the input's first element.

    Shape:
        - Input: (B, C, H, W)
        - Output: (B, C·b², H', W') with ``H' = floor((H + left + right) / b)``, as a ``b×b``
          convolution of stride ``b`` on the padded map.

    Example:
        >>> import torch
        >>> x = torch.arange(16.).view(1, 1, 4, 4)
        >>> SpaceToDepth(2, "same")(x)[0, :, 0, 0]   # the four elements of the first block
        tensor([0., 1., 4., 5.])
        >>> SpaceToDepth(4, "full")(torch.zeros(1, 3, 8, 8)).shape
        torch.Size([1, 48, 3, 3])
    """

    def __init__(self, block: int = 4, border: str | Border = "same", *,
                 pads: Sequence[tuple[int, int]] | None = None, background=None) -> None:
        super().__init__()
        if block < 1:
            raise ValueError(f"block must be a positive int; got {block}")
        self.block, self.border = int(block), get_border(border)
        self.border_dims = (0, 1)
        if pads is None:
            pads = ((0, 0), (0, 0)) if self.border.extent == "same" else (self.border.pads(self.block, 1),) * 2
        self.pads = tuple((int(left), int(right)) for left, right in pads)
        self.background = background
        #: ``full-exact``: the period per spatial dim of the input's background where it repeats;
        #: ``None``: one value. ``convert()`` sets it.
        self.background_period: tuple[int, ...] | None = None

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return (self.block,) * 2, (1, 1), (self.block,) * 2

    def extra_repr(self) -> str:  # pragma: no cover - repr only
        return f"block={self.block}, border={self.border.name!r}, pads={self.pads}"

    def forward(self, x: Tensor, phase: Tensor | None = None) -> Tensor:
        """x: (B, C, H, W) -> (B, C·b², H', W').

        ``phase`` (B, 2), from :func:`~fullconv.layers.polyphase.choose_phase`: each sample's
        blocks start ``phase`` elements later (``downsample="polyphase"``); a background is taken
        off before and put back after, as the blocks only move elements.
        """
        if x.dim() != 4:
            raise ValueError(f"SpaceToDepth expects (B, C, H, W); got shape {tuple(x.shape)}")
        if phase is not None:
            background = None
            if self.border.exact:
                background = corner_background(x, 2) if self.background is None else self.background
                if not isinstance(background, Tensor):
                    background = x.new_full((1, x.shape[1], 1, 1), float(background))
                background = background.to(x.dtype)
            if background is None:
                return window_at_phase(x, phase, self.window()[2], self.pads, self._blocks, value=0.0)
            y = window_at_phase(x - background, phase, self.window()[2], self.pads, self._blocks, value=0.0)
            return y + background.repeat(1, self.block * self.block, 1, 1)
        if self.border.exact and self.background is None and self.background_period is not None:
            x = pad_periodic(x, self.pads, self.background_period)
        else:
            x = self.border.pad(x, self.pads, self.background)
        return self._blocks(x)

    def _blocks(self, x: Tensor, _padding=None) -> Tensor:
        """The rearrangement of an already padded ``x`` (``_padding`` is ignored: the signature of
        :func:`~fullconv.layers.polyphase.window_at_phase`'s window)."""
        b = self.block
        n, c, h, w = x.shape
        x = crop(x, ((0, -(h % b)), (0, -(w % b))))   # whole blocks only, as a strided window keeps
        # pixel_unshuffle orders the channels (c, i, j); space-to-depth's order is (i, j, c)
        x = F.pixel_unshuffle(x, b)
        return x.reshape(n, c, b * b, h // b, w // b).transpose(1, 2).reshape(n, b * b * c, h // b, w // b)
