"""Blur-and-subsample (BlurPool, Zhang 2019) whose padding follows the border variant.

Anti-aliasing replaces a strided operation by its stride-1 version followed by a low-pass
binomial blur and the subsampling. The blur pads like the border variant it sits in:

=================  ===========================  ===================================================
border             padding per side             padded value
=================  ===========================  ===================================================
``valid``          0                            –
``same``           (size-1)/2 (extra one right)  reflection, as Zhang 2019's code (``ReflectionPad2d``)
``same-reflect``   (size-1)/2                   reflection
``same-replicate`` (size-1)/2                   edge value
``same-circular``  (size-1)/2                   wrap-around
``same-partial``   (size-1)/2                   zeros, output divided by the filter weight inside the
                                                image (a constant map stays constant)
``full``           size-1                       zeros
``full-exact``     size-1                       the feature map's background (so a network stays
                                                exactly shift-equivariant on an infinite canvas)
=================  ===========================  ===================================================

kornia's ``BlurPool2D`` is not used: it pads in one fixed way and cannot pad with the feature
map's background value, which ``full-exact`` needs.
"""
from __future__ import annotations

from math import comb
from typing import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from .borders import BORDERS, Border, get_border
from .conv import CONV_FN
from .grid import GridWindow
from .padding import corner_background, pad_constant, pad_periodic
from .polyphase import border_strides, window_at_phase

MAX_BLUR_SIZE = 7


def _check_size(size: int) -> int:
    if not 1 <= int(size) <= MAX_BLUR_SIZE or int(size) != size:
        raise ValueError(f"blur size {size!r} is not supported; choose an integer from 1 to {MAX_BLUR_SIZE}")
    return int(size)


def blur_filter(size: int, ndim: int = 2) -> Tensor:
    """Binomial low-pass filter of ``size`` taps per dimension, normalised to sum 1.

    Returns:
        (size,) * ndim float32 tensor: the outer product of the binomial row ``C(size-1, i)``.

    Example:
        >>> blur_filter(3, ndim=1)
        tensor([0.2500, 0.5000, 0.2500])
    """
    size = _check_size(size)
    if ndim not in (1, 2, 3):
        raise ValueError(f"blur filter needs 1 to 3 dimensions; got ndim={ndim}")
    row = torch.tensor([comb(size - 1, i) for i in range(size)], dtype=torch.float64)
    kernel = row
    for _ in range(ndim - 1):
        kernel = kernel.unsqueeze(-1) * row
    return (kernel / kernel.sum()).to(torch.float32)


def _per_dim(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    out = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(out) != n or any(int(v) < 1 for v in out):
        raise ValueError(f"{name} must be a positive int or one per spatial dim ({n}); got {value!r}")
    return tuple(int(v) for v in out)


def blur_pads(border: str | Border, size: int, stride: int | Sequence[int], ndim: int,
              border_dims: Sequence[int] | None = None) -> tuple[tuple[int, int], ...]:
    """``(left, right)`` padding of each spatial dim of :func:`blur_downsample`.

    Dims with stride 1 are not blurred (no padding); dims outside ``border_dims`` are padded
    like ``same``.

    Example:
        >>> blur_pads("full", 3, 2, 2), blur_pads("same", 4, 2, 1), blur_pads("valid", 3, (1, 2), 2)
        (((2, 2), (2, 2)), ((1, 2),), ((0, 0), (0, 0)))
    """
    border, strides = get_border(border), _per_dim(stride, ndim, "stride")
    dims = _border_dims(border_dims, ndim)
    return tuple((border if d in dims else BORDERS["same"]).pads(size if s > 1 else 1)
                 for d, s in enumerate(strides))


def _border_dims(border_dims: Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    dims = tuple(range(ndim)) if border_dims is None else tuple(sorted(border_dims))
    if dims != tuple(range(ndim - len(dims), ndim)):
        raise ValueError(f"border_dims {dims} must be trailing spatial dims of a {ndim}-D map "
                         f"(e.g. (1, 2) for height and width of (B, C, T, H, W))")
    return dims


def blur_downsample(x: Tensor, stride: int | Sequence[int] = 2, size: int = 3, border: str | Border = "same",
                    background: Tensor | float | None = None, border_dims: Sequence[int] | None = None,
                    *, pads: Sequence[tuple[int, int]] | None = None, kernel: Tensor | None = None,
                    phase: Tensor | None = None, period: Sequence[int] | None = None) -> Tensor:
    """Depthwise binomial blur, then keep every ``stride``-th sample.

    Args:
        x: (B, C, *S) with 1 to 3 spatial dims.
        stride: subsampling factor, one int or one per spatial dim; dims with stride 1 are
            neither blurred nor padded.
        size: taps of the binomial filter (1 to 7); 1 is plain subsampling.
        border: a name from ``fullconv.BORDERS``; sets the padding (see the module table).
        background: ``full-exact`` padding value: a number or a (B or 1, C, 1, ...) tensor;
            ``None`` reads it from ``x``'s first element (:func:`corner_background`).
        border_dims: spatial dims (0-based, trailing) the border applies to; the others are
            padded as ``same``. Default: all.
        pads: explicit ``(left, right)`` per spatial dim, overriding the border's amounts (a
            negative value crops); ``convert()`` uses it to keep strided grids aligned.
        kernel: the filter (from :func:`blur_filter`), to reuse a cached one; built when None.
        phase: (B, d) long, from :func:`~fullconv.layers.polyphase.choose_phase`: each sample keeps
            the blurred samples ``s·j + phase`` instead of ``s·j`` (``full`` and ``full-exact``).
        period: ``full-exact`` without ``background``: the period per spatial dim of ``x``'s
            background where it repeats (:func:`~fullconv.layers.padding.pad_periodic`).

    Returns:
        (B, C, *S') with ``S'_i = floor((S_i + left_i + right_i - k_i) / s_i) + 1`` where
        ``k_i = size`` on strided dims and 1 elsewhere.

    Example:
        >>> x = torch.ones(1, 2, 8, 8)
        >>> blur_downsample(x, 2, 3, "full-exact").shape, blur_downsample(x, 2, 3, "same").shape
        (torch.Size([1, 2, 5, 5]), torch.Size([1, 2, 4, 4]))
    """
    border = get_border(border)
    ndim = x.dim() - 2
    if ndim not in (1, 2, 3):
        raise ValueError(f"blur_downsample needs x of shape (B, C, *S) with 1 to 3 spatial dims; "
                         f"got shape {tuple(x.shape)}")
    strides = _per_dim(stride, ndim, "stride")
    size = _check_size(size)
    dims = _border_dims(border_dims, ndim)
    if pads is None:
        pads = blur_pads(border, size, strides, ndim, dims)
    pads = tuple((int(left), int(right)) for left, right in pads)
    if kernel is None:
        kernel = blur_filter(size, ndim)
    kernel = _restrict(kernel, strides).to(device=x.device, dtype=x.dtype)

    other = tuple(p if d not in dims else (0, 0) for d, p in enumerate(pads))
    own = tuple(p if d in dims else (0, 0) for d, p in enumerate(pads))
    if any(left or right for left, right in other):
        x = BORDERS["same-reflect"].pad(x, other)
    if border.exact and background is None and phase is None and period is not None and any(p > 1 for p in period):
        return _depthwise(pad_periodic(x, own, period), kernel, strides)
    if border.exact:
        if background is None:
            background = corner_background(x, len(dims))
        # The filter sums to 1, so blurring ``x - background`` with zero padding and adding the
        # background back is the same as padding with the background, without a padded copy.
        if phase is not None:
            return _depthwise_at_phase(x - background, kernel, strides, own, phase, dims) + background
        return _depthwise(pad_constant(x - background, own, 0.0), kernel, strides) + background
    if phase is not None:
        if border.extent != "full":
            raise ValueError(f"a blur with a phase needs a full border; got {border.name!r}")
        return _depthwise_at_phase(x, kernel, strides, own, phase, dims)
    if border.fill == "partial":
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), device=x.device, dtype=x.dtype)
        weight_inside = _depthwise(pad_constant(ones, own, 0.0), kernel, strides)
        return _depthwise(pad_constant(x, own, 0.0), kernel, strides) / weight_inside
    return _depthwise(border.blur_fill().pad(x, own), kernel, strides)


def _restrict(kernel: Tensor, strides: tuple[int, ...]) -> Tensor:
    """Sum the separable filter out along dims that are not subsampled (no blur there)."""
    for d, s in enumerate(strides):
        if s == 1:
            kernel = kernel.sum(dim=d, keepdim=True)
    return kernel / kernel.sum()


def _depthwise_weight(x: Tensor, kernel: Tensor) -> tuple[Tensor, int]:
    """``kernel`` (*k) as the weight of a depthwise convolution of x (B, C, *S), and C."""
    channels = int(x.shape[1])  # a constant when traced: ONNX needs the kernel's shape
    return kernel.expand((channels, 1) + tuple(kernel.shape)), channels


def _depthwise(x: Tensor, kernel: Tensor, strides: tuple[int, ...]) -> Tensor:
    """Blur every channel of x (B, C, *S) with ``kernel`` (*k) and subsample by ``strides``."""
    weight, channels = _depthwise_weight(x, kernel)
    return CONV_FN[x.dim() - 2](x, weight, None, strides, 0, 1, channels)


def _depthwise_at_phase(x: Tensor, kernel: Tensor, strides: tuple[int, ...], pads, phase: Tensor,
                        dims: Sequence[int]) -> Tensor:
    """:func:`_depthwise` of ``x`` zero-padded by ``pads``, at each sample's phase on ``dims``."""
    weight, channels = _depthwise_weight(x, kernel)
    conv = CONV_FN[x.dim() - 2]
    return window_at_phase(x, phase, border_strides(strides, dims), pads,
                           lambda z, padding: conv(z, weight, None, strides, padding, 1, channels),
                           stride=strides, reach=tuple(k - 1 for k in kernel.shape))


class BlurPool(GridWindow, nn.Module):
    """Blur-and-subsample module (any number of channels); see :func:`blur_downsample`.

    The filter is a non-persistent buffer: the module adds nothing to a ``state_dict``.

    Args:
        stride: subsampling factor (int or one per spatial dim).
        size: binomial filter taps (1 to 7).
        border: a name from ``fullconv.BORDERS``.
        ndim: spatial dims of the input (1, 2 or 3).
        border_dims: spatial dims the border applies to (trailing); default all.
        pads: explicit ``(left, right)`` per spatial dim, overriding the border's amounts.
        background: fixed ``full-exact`` padding value; ``None`` reads it from the input.

    Shape:
        - Input: (B, C, *S)
        - Output: (B, C, *S') as in :func:`blur_downsample`.

    Example:
        >>> BlurPool(2, 3, "full")(torch.zeros(2, 5, 8, 8)).shape
        torch.Size([2, 5, 5, 5])
    """

    def __init__(self, stride: int | Sequence[int] = 2, size: int = 3, border: str | Border = "same", ndim: int = 2, *,
                 border_dims: Sequence[int] | None = None, pads: Sequence[tuple[int, int]] | None = None,
                 background: Tensor | float | None = None) -> None:
        super().__init__()
        self.border = get_border(border)
        self.size = _check_size(size)
        self.stride = _per_dim(stride, ndim, "stride")
        self.ndim = ndim
        self.border_dims = _border_dims(border_dims, ndim)
        self.pads = tuple((int(l), int(r)) for l, r in pads) if pads is not None else \
            blur_pads(self.border, self.size, self.stride, ndim, self.border_dims)
        self.background = background
        #: ``full-exact``: the period per spatial dim of the input's background where it repeats;
        #: ``None``: one value. ``convert()`` sets it.
        self.background_period: tuple[int, ...] | None = None
        self.register_buffer("filter", _restrict(blur_filter(self.size, ndim), self.stride), persistent=False)

    def forward(self, x: Tensor, phase: Tensor | None = None) -> Tensor:
        """x: (B, C, *S) -> (B, C, *S'); ``phase`` as in :func:`blur_downsample`."""
        if x.dim() != self.ndim + 2:
            raise ValueError(f"BlurPool for {self.ndim} spatial dims expects (B, C, *S) with {self.ndim + 2} "
                             f"dims; got shape {tuple(x.shape)}")
        return blur_downsample(x, self.stride, self.size, self.border, self.background, self.border_dims,
                               pads=self.pads, kernel=self.filter, phase=phase, period=self.background_period)

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return (self.size,) * self.ndim, (1,) * self.ndim, self.stride

    def extra_repr(self) -> str:  # pragma: no cover - repr only
        return f"stride={self.stride}, size={self.size}, border={self.border.name!r}, pads={self.pads}"
