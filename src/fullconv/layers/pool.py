"""Max and average pooling with a border variant.

Rule per variant (what ``convert()`` does to every pooling layer):

- ``valid``: no padding; responses that would need padding are dropped, as for convolutions.
- ``same`` variants: the pooling keeps its original padding (max pooling pads with -inf, which
  invents no value; average pooling with zeros), since it keeps the map size already.
- ``full``: pads ``d·(k-1)`` on every side with zeros, as its convolutions do, so no response is
  cropped; average pooling divides by the window size. (Max pooling after a ReLU gives the same
  with zeros as with -inf; zeros also keep the windows that hold padding only finite, which the
  grid alignment of strided layers creates.)
- ``full-exact``: pads ``d·(k-1)`` with the background value of the map, so pooling a region of
  background gives the background again.
"""
from __future__ import annotations

from typing import Sequence

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .borders import Border, get_border
from .grid import GridWindow
from .padding import corner_background, pad_constant, pad_periodic, per_dim
from .polyphase import border_strides, window_at_phase

_MAX_FN = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_FN = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class BorderPool(GridWindow, nn.Module):
    """Max or average pooling over ``nd`` spatial dims with explicit border padding.

    Args:
        kind: ``"max"`` or ``"avg"``.
        nd: number of spatial dims (1, 2 or 3).
        kernel_size, stride, dilation: as in ``nn.MaxPool2d`` (dilation only for max).
        border: a name from ``fullconv.BORDERS`` or a :class:`~fullconv.layers.Border`; its
            :meth:`~fullconv.layers.Border.pool_fill` is the padded value.
        pads: ``(left, right)`` per spatial dim (negative crops); default from the border. Dims
            outside ``border_dims`` are padded with -inf (max) or zeros (average), as the
            original layer pads them.
        border_dims: trailing spatial dims the border applies to.
        background: fixed padded value for ``full-exact`` when the layer sees the network input.

    Shape:
        - Input: (B, C, *S)
        - Output: (B, C, *S') with ``S'_i = floor((S_i + left_i + right_i - d·(k-1) - 1) / s) + 1``.
    """

    def __init__(self, kind: str, nd: int, kernel_size, stride=None, dilation=1, border: str | Border = "full",
                 pads: Sequence[tuple[int, int]] | None = None, border_dims: Sequence[int] | None = None,
                 background=None) -> None:
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"unknown pooling kind {kind!r}; choose 'max' or 'avg'")
        self.kind, self.nd, self.border = kind, nd, get_border(border)
        self.kernel_size = per_dim(kernel_size, nd)
        self.stride = per_dim(stride if stride is not None else kernel_size, nd)
        self.dilation = per_dim(dilation, nd)
        if kind == "avg" and any(d != 1 for d in self.dilation):
            raise ValueError("average pooling has no dilation; use dilation=1")
        self.border_dims = tuple(range(nd)) if border_dims is None else tuple(sorted(border_dims))
        if pads is None:
            pads = tuple(self.border.pads(k, d) for k, d in zip(self.kernel_size, self.dilation))
        self.pads = tuple((int(left), int(right)) for left, right in pads)
        self.background = background
        #: ``full-exact``: the period per spatial dim of the input's background where it repeats
        #: (:func:`~fullconv.layers.padding.pad_periodic`); ``None``: one value. ``convert()`` sets it.
        self.background_period: tuple[int, ...] | None = None
        self.blur: nn.Module | None = None

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return self.kernel_size, self.dilation, self.stride

    def extra_repr(self) -> str:  # pragma: no cover - repr only
        return (f"{self.kind}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"border={self.border.name!r}, pads={self.pads}")

    def pad_value(self, x: Tensor):
        """The value padded around ``x`` (B, C, *S): a number or a (B, C, ..., 1) tensor."""
        fill = self.border.pool_fill(self.kind)
        if fill is not None:
            return fill
        if self.background is not None:
            return float(self.background)
        return corner_background(x, len(self.border_dims))

    def forward(self, x: Tensor, phase: Tensor | None = None) -> Tensor:
        """x: (B, C, *S) -> (B, C, *S').

        ``phase`` (B, d): each sample keeps the outputs ``s·j + phase`` of the stride-1 pooling
        (with a blur attached, the blur keeps them); see :func:`~fullconv.layers.polyphase.take_phase`.
        """
        taking = phase is not None and self.blur is None
        if self.background_period is not None and self.border.exact and self.background is None and not taking:
            n_border = len(self.border_dims)
            x = pad_periodic(x, self.pads[self.nd - n_border:], self.background_period[self.nd - n_border:])
            y = self._pool(self._pad_other_dims(x))
            return y if self.blur is None else self.blur(y, phase)
        value = self.pad_value(x) if taking or any(left or right for left, right in self.pads) else None
        if taking:
            return self._phase_pool(x, phase, value)
        if any(left or right for left, right in self.pads):
            x = self._pad_other_dims(pad_constant(x, self.pads[self.nd - len(self.border_dims):], value))
        y = self._pool(x)
        return y if self.blur is None else self.blur(y, phase)

    def _pool(self, x: Tensor, _padding=None) -> Tensor:
        """The unpadded strided pooling of an already padded ``x`` (``_padding`` is ignored: the
        signature of :func:`~fullconv.layers.polyphase.window_at_phase`'s window)."""
        if self.kind == "max":
            return _MAX_FN[self.nd](x, self.kernel_size, self.stride, 0, self.dilation)
        return _AVG_FN[self.nd](x, self.kernel_size, self.stride, 0)

    def _pad_other_dims(self, x: Tensor) -> Tensor:
        """Dims outside ``border_dims`` (time, for a spatial-only 3-D border) keep the plain padding:
        -inf for max pooling, zeros for average pooling."""
        n_border = len(self.border_dims)
        plain = float("-inf") if self.kind == "max" else 0.0
        return pad_constant(x, self.pads[: self.nd - n_border] + ((0, 0),) * n_border, plain)

    def _phase_pool(self, x: Tensor, phase: Tensor, value: Tensor | float) -> Tensor:
        """The strided pooling at each sample's phase (:func:`~fullconv.layers.polyphase.window_at_phase`).

        A background (a tensor) is taken off before and added back after: max and average
        pooling commute with adding a constant per sample and channel.
        """
        n_border = len(self.border_dims)
        pads = ((0, 0),) * (self.nd - n_border) + tuple(self.pads[self.nd - n_border:])
        background = value if isinstance(value, Tensor) else None
        x = self._pad_other_dims(x)
        y = window_at_phase(x if background is None else x - background, phase,
                            border_strides(self.stride, self.border_dims), pads, self._pool,
                            value=0.0 if background is not None else float(value))
        return y if background is None else y + background
