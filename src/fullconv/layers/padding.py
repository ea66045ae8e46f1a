"""Pure padding functions for the border variants.

Padding is described per padded dimension as a ``(left, right)`` pair, listed from the first
spatial dimension to the last (``(D, H, W)`` order), unlike ``F.pad`` which lists the last
dimension first. A negative amount crops.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

Pads = tuple[tuple[int, int], ...]


def per_dim(value: int | Sequence[int], n: int) -> tuple[int, ...]:
    """``value`` as one int per spatial dim: a sequence is kept, a number repeated ``n`` times."""
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def effective_kernel(kernel_size: int, dilation: int = 1) -> int:
    """Extent of a dilated kernel: ``d·(k-1)+1``."""
    return dilation * (kernel_size - 1) + 1


def _centre_step(kernel_size: int, dilation: int, phase: Fraction) -> int:
    """Steps from a window's first tap to its centre, counted from the input's phase (floored)."""
    return math.floor(phase + Fraction(effective_kernel(kernel_size, dilation) - 1, 2))


def full_phase_left(kernel_size: int, dilation: int, stride: int, *, margin: int = 0,
                    phase: Fraction | int = 0) -> int:
    """Left padding of a strided full-border operation whose outputs land on the canonical grid.

    Full padding of ``d·(k-1)`` puts the centre of output 0 at ``-d·(k-1)/2`` input steps; with
    stride ``s`` two branches that meet later (a residual addition) could then sample different
    positions, and no padding afterwards can align them. This returns the smallest left padding
    of at least ``d·(k-1) + margin`` that centres the outputs on multiples of the output stride
    in input coordinates, given that the input's first element sits at ``phase`` input steps
    (its position divided by its stride). With every strided layer on that canonical grid,
    branches that meet always sample the same positions.

    Example:
        >>> full_phase_left(3, 1, 2), full_phase_left(1, 1, 2), full_phase_left(7, 1, 2)
        (3, 0, 7)
    """
    left = effective_kernel(kernel_size, dilation) - 1 + margin
    return left + (_centre_step(kernel_size, dilation, Fraction(phase)) - left) % stride


def valid_phase_left(kernel_size: int, dilation: int, stride: int, *, phase: Fraction | int = 0) -> int:
    """Left padding (zero or a crop) of a strided ``valid`` operation on the canonical grid.

    The counterpart of :func:`full_phase_left` for ``valid``: the largest left amount <= 0 that
    centres the outputs on multiples of the output stride.

    Example:
        >>> valid_phase_left(3, 1, 2), valid_phase_left(1, 1, 2), valid_phase_left(7, 1, 2)
        (-1, 0, -1)
    """
    return -((-_centre_step(kernel_size, dilation, Fraction(phase))) % stride)


def torch_pad_arg(pads: Sequence[tuple[int, int]]) -> list[int]:
    """Turn ``((l_D, r_D), (l_H, r_H), ...)`` into ``F.pad``'s last-dimension-first list."""
    out: list[int] = []
    for left, right in reversed(tuple(pads)):
        out.extend((left, right))
    return out


def pad_constant(x: Tensor, pads: Sequence[tuple[int, int]], value: Tensor | float) -> Tensor:
    """Pad the trailing ``len(pads)`` dimensions of ``x`` with ``value``.

    Args:
        x: (B, C, *S) tensor.
        pads: ``(left, right)`` per padded dimension; they are the last ``len(pads)`` dims of ``x``.
        value: a number, or a tensor broadcastable to ``x`` whose padded dimensions have size 1
            (e.g. a per-sample, per-channel background of shape (B, C, 1, 1)).

    Returns:
        (B, C, *S') with ``S'_i = S_i + left_i + right_i``.
    """
    if not any(left or right for left, right in pads):
        return x
    if not isinstance(value, Tensor):
        return F.pad(x, torch_pad_arg(pads), mode="constant", value=float(value))
    x = crop(x, pads)
    pads = tuple((max(left, 0), max(right, 0)) for left, right in pads)
    if not any(left or right for left, right in pads):
        return x
    first = x.dim() - len(pads)
    shape = list(x.shape)
    for i, (left, right) in enumerate(pads):
        shape[first + i] += left + right
    out = value.to(x.dtype).expand(shape).clone(memory_format=torch.contiguous_format)
    inner = [slice(None)] * first + [slice(left, left + x.shape[first + i]) for i, (left, _) in enumerate(pads)]
    out[tuple(inner)] = x
    return out


def background_frame(x: Tensor, width: int, background: Tensor | float, ndim: int = 2) -> Tensor:
    """Prepend ``width`` background elements to each of the last ``ndim`` dims (top and left).

    The input frame of a stack of ``full-exact`` layers built by hand: those layers read the
    background from their input's first element, so the network input gets a frame of background
    before its first layer, as wide as the stack needs for every layer's first element to stay pure
    background (the small nets of :mod:`fullconv.models.tiny`: 1; HardNet: its total stride).
    ``convert()`` builds the same frame into its first layer's left padding instead of a copy.

    Args:
        x: (B, C, *S).
        width: elements prepended per dim.
        background: a number, or a tensor broadcastable to ``x`` (see :func:`pad_constant`).
        ndim: spatial dims of ``x``.

    Returns:
        (B, C, *S') with ``S'_i = S_i + width``.

    Example:
        >>> background_frame(torch.ones(1, 1, 2, 2), 1, 0.0)[0, 0]
        tensor([[0., 0., 0.],
                [0., 1., 1.],
                [0., 1., 1.]])
    """
    return pad_constant(x, ((width, 0),) * ndim, background)


def pad_with_background(x: Tensor, pad: Sequence[int], ndim: int, period: Sequence[int] | None = None) -> Tensor:
    """``F.pad(x, pad)`` (constant mode) filled with the map's background instead of zeros.

    ``convert(..., "full-exact")`` puts it in place of a model's own zero padding of a feature
    map (timm's HGNet stem pads one zero row and column before a convolution), so that padding
    extends the background canvas rather than drawing a zero line into it.

    Args:
        x: (B, C, *S) a map whose first element along each of its ``ndim`` spatial dims is background.
        pad: ``F.pad``'s list (last dim first: left, right, then the dim before, ...), at most ``ndim`` pairs.
        ndim: spatial dims of ``x``.
        period: per spatial dim, the period of a background that repeats (:func:`pad_periodic`);
            ``None``: a constant one.

    Returns:
        (B, C, *S') as ``F.pad`` gives it.

    Example:
        >>> pad_with_background(torch.full((1, 1, 2, 2), 0.5), (0, 1, 0, 1), 2)[0, 0]
        tensor([[0.5000, 0.5000, 0.5000],
                [0.5000, 0.5000, 0.5000],
                [0.5000, 0.5000, 0.5000]])
    """
    pairs = tuple((int(pad[2 * i]), int(pad[2 * i + 1])) for i in reversed(range(len(pad) // 2)))
    if period is not None and any(p > 1 for p in period):
        return pad_periodic(x, pairs, tuple(period)[len(period) - len(pairs):])
    return pad_constant(x, pairs, corner_background(x, ndim))


def pad_periodic(x: Tensor, pads: Sequence[tuple[int, int]], period: Sequence[int]) -> Tensor:
    """Pad the trailing ``len(pads)`` dims of ``x`` with its own background, which repeats with ``period``.

    After a strided transposed convolution the background of a ``full-exact`` map is not one value
    but a pattern: on a constant input, output ``o`` of a transposed convolution with stride ``s``
    receives the taps ``t`` with ``o ≡ d·t (mod s)``, so the response repeats every ``s`` elements
    (and every ``s·P`` after an input of period ``P``). The map's first ``period`` elements along
    each padded dim are that pattern (``convert()`` keeps them pure background), and the padding
    continues it: element ``j`` outside the map is element ``j mod period``. With period 1 this
    is :func:`pad_constant` with :func:`corner_background`.

    Args:
        x: (B, C, *S) whose first ``period[d]`` elements along each padded dim ``d`` are background.
        pads: ``(left, right)`` per padded dim; a negative amount crops (before the padding).
        period: the background's period per padded dim (>= 1).

    Returns:
        (B, C, *S') with ``S'_i = S_i + left_i + right_i``.

    Example:
        >>> pad_periodic(torch.tensor([[[1., 2., 1., 2., 9.]]]), ((3, 2),), (2,))[0, 0]
        tensor([2., 1., 2., 1., 2., 1., 2., 9., 2., 1.])
    """
    x = crop(x, pads)
    first = x.dim() - len(pads)
    for i, ((left, right), p) in enumerate(zip(pads, period)):
        left, right, dim = max(left, 0), max(right, 0), first + i
        if not (left or right):
            continue
        n = x.shape[dim]
        if n < p:
            raise ValueError(f"a map of {n} elements along dim {dim} cannot hold its background's period {p}")
        # element j (outside the map) is element j mod p: a tile of whole periods covers both sides
        reps = -(-max(left, n % p + right) // p)
        tile = x.narrow(dim, 0, p).repeat(tuple(reps if k == dim else 1 for k in range(x.dim())))
        parts = [tile.narrow(dim, reps * p - left, left)] if left else []
        parts.append(x)
        if right:
            parts.append(tile.narrow(dim, n % p, right))
        x = torch.cat(parts, dim)
    return x


def crop(x: Tensor, pads: Sequence[tuple[int, int]]) -> Tensor:
    """Apply only the negative entries of ``pads`` (cropping); positive entries are ignored."""
    if all(left >= 0 and right >= 0 for left, right in pads):
        return x
    first = x.dim() - len(pads)
    index = [slice(None)] * first
    for i, (left, right) in enumerate(pads):
        size = x.shape[first + i]
        index.append(slice(max(-left, 0), size - max(-right, 0)))
    return x[tuple(index)]


def pad_mode(x: Tensor, pads: Pads, mode: str) -> Tensor:
    """Pad the trailing ``len(pads)`` dims of ``x`` with F.pad's ``mode`` (reflect, replicate, circular).

    F.pad supports these modes only for some dim counts; leading extra dims are folded into the
    batch. A reflection needs a map larger than its padding, else a ValueError says so.
    """
    ndim = len(pads)
    # F.pad's reflect/replicate/circular need (N, C, *spatial) with 1-3 padded dims equal to the
    # tensor's trailing dims; fold leading extra dims into the batch when there are more dims.
    lead = x.shape[: x.dim() - ndim]
    folded = x.reshape((-1, 1) + tuple(x.shape[x.dim() - ndim:])) if len(lead) != 2 else x
    for left, right in pads:
        extent = left + right
        if mode == "reflect" and extent and min(x.shape[-ndim:]) <= max(max(p) for p in pads):
            raise ValueError(
                f"reflect padding of {max(max(p) for p in pads)} needs a map larger than that; "
                f"got spatial size {tuple(x.shape[-ndim:])}: use a larger input or another border")
    out = F.pad(folded, torch_pad_arg(pads), mode=mode)
    if folded is not x:
        out = out.reshape(tuple(lead) + tuple(out.shape[-ndim:]))
    return out


def corner_background(x: Tensor, ndim: int) -> Tensor:
    """The background value of a feature map whose first element along each padded dim is background.

    Args:
        x: (B, C, *S); the last ``ndim`` dims are the padded ones.
        ndim: how many trailing dims are padded with the background.

    Returns:
        (B, C, *S_other, 1, ..., 1): ``x`` indexed at 0 along each of the last ``ndim`` dims
        (kept as size-1 dims), so it broadcasts as the padding value.
    """
    index = [slice(None)] * (x.dim() - ndim) + [slice(0, 1)] * ndim
    return x[tuple(index)]
