"""Adaptive polyphase subsampling on a constant canvas: the selection that shifts with the content.

Subsampling a stride-1 map by ``s`` keeps one of its ``s^d`` polyphase components. Keeping a fixed
one (``x[..., ::s]``) makes a network sensitive to shifts that are not multiples of ``s``. APS
(Chaman & Dokmanić, CVPR 2021) keeps the component of largest norm, which follows a *circular*
shift. On a constant canvas (a ``full-exact`` map: content surrounded by its background) the norm
that follows the content is the norm of ``map - background``: the infinite background then adds
the same to every component. Moving the content by ``t`` moves the chosen phase ``p`` to
``(p + t) mod s``, and the kept samples are the same samples, moved by whole output steps.

Ties (an all-background map, content symmetric under a shift) are broken in a way that moves with
the content too: among the phases of largest norm, the one nearest after the phase of the first
element that differs from the background, in raster order (that element moves with the content,
so its phase does). A map that is background everywhere keeps phase 0: every phase then holds the
same samples. Norms within a few rounding errors of the largest count as tied, so that summing the
same values in another order cannot decide.

``convert(..., downsample="polyphase")`` uses :func:`choose_phase` once per resolution level and
:func:`take_phase` in every strided layer of that level, so that a layer computes only the samples
it keeps.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import torch
from torch import Tensor

from .padding import corner_background, pad_constant

#: norms within this many rounding errors (of the dtype) of the largest count as a tie
_TIE_ULPS = 256


def phase_norms(x: Tensor, stride: Sequence[int], background: Tensor | float = 0.0) -> Tensor:
    """Squared norm of ``x - background`` over each polyphase component, per sample.

    Args:
        x: (B, C, *S) stride-1 map, ``len(stride)`` trailing spatial dims.
        stride: subsampling factor per spatial dim.
        background: a number, or a tensor broadcastable to ``x`` (e.g. (B, C, 1, 1)).

    Returns:
        (B, P) with ``P = prod(stride)``, phases in the order of :func:`phases`.

    Example:
        >>> phase_norms(torch.tensor([[[0.0, 3.0, 0.0, 1.0]]]), (2,))
        tensor([[ 0., 10.]])
    """
    if x.dim() != len(stride) + 2:
        raise ValueError(f"x must be (B, C, *S) with {len(stride)} spatial dims for stride {tuple(stride)}; "
                         f"got shape {tuple(x.shape)}")
    centred = (x - background) ** 2
    return torch.stack([centred[(Ellipsis, *(slice(p, None, s) for p, s in zip(phase, stride)))].flatten(1).sum(1)
                        for phase in phases(stride)], dim=1)


def phases(stride: Sequence[int]) -> list[tuple[int, ...]]:
    """Every polyphase offset for ``stride``, in raster order: ``[(0, 0), (0, 1), (1, 0), (1, 1)]`` for (2, 2)."""
    return list(itertools.product(*(range(s) for s in stride)))


def select_phase(x: Tensor, stride: Sequence[int], background: Tensor | float = 0.0) -> Tensor:
    """The phase each sample keeps: largest :func:`phase_norms`, ties broken as the module says.

    Args:
        x: (B, C, *S) stride-1 map.
        stride: subsampling factor per spatial dim.
        background: the canvas value (number or broadcastable tensor).

    Returns:
        (B, d) long tensor: the kept offset per spatial dim of every sample.

    Example:
        >>> select_phase(torch.tensor([[[0.0, 3.0, 0.0, 1.0]]]), (2,))
        tensor([[1]])
        >>> select_phase(torch.tensor([[[0.0, 1.0, 1.0, 0.0]]]), (2,))  # a tie: the first element's phase
        tensor([[1]])
    """
    stride = tuple(int(s) for s in stride)
    sizes = torch.tensor(stride, dtype=torch.long, device=x.device)
    table = torch.tensor(phases(stride), dtype=torch.long, device=x.device)             # (P, d)
    norms = phase_norms(x, stride, background)                                          # (B, P)
    tolerance = _TIE_ULPS * torch.finfo(norms.dtype).eps if norms.is_floating_point() else 0.0
    best = norms >= norms.max(dim=1, keepdim=True).values * (1 - tolerance)            # (B, P) ties
    differs = (x != background).any(dim=1).flatten(1)                                   # (B, N)
    first_index = differs.to(torch.int8).argmax(dim=1)                                  # first True (raster order)
    coordinates = torch.stack(torch.unravel_index(first_index, tuple(x.shape[2:])), dim=1)   # (B, d)
    first = torch.where(differs.any(dim=1, keepdim=True), coordinates % sizes, torch.zeros_like(coordinates))
    # rank of each phase after the first element's phase, in raster order of (p - f) mod s
    after = (table[None] - first[:, None]) % sizes                                      # (B, P, d)
    weights = torch.tensor([math.prod(stride[i + 1:]) for i in range(len(stride))], device=x.device)
    rank = (after * weights).sum(-1)                                                    # (B, P)
    rank = torch.where(best, rank, torch.full_like(rank, len(table)))
    return table[rank.argmin(dim=1)]


def choose_phase(x: Tensor, stride: Sequence[int], offset: Sequence[int] = (),
                 background: float | Sequence[float] | None = 0.0) -> Tensor:
    """The phase a resolution level keeps, chosen on the input map ``x`` of its first strided layer.

    Args:
        x: (B, C, *S) the map the strided layer reads.
        stride: the layer's stride per spatial dim (1 where the phase stays fixed).
        offset: per dim, the index in ``x`` of the original model's element 0 (``convert()``'s
            grid lead); the phase is counted from there, so that every layer of the level, whatever
            its own map, keeps the samples of the same original indices. Default 0.
        background: the canvas value: a number, one per channel, or ``None`` to read it from
            ``x``'s first element (a ``full-exact`` map).

    Returns:
        (B, d) long: per sample, the kept original index modulo the stride.

    Example:
        >>> choose_phase(torch.tensor([[[0.0, 3.0, 0.0, 1.0]]]), (2,), offset=(1,))
        tensor([[0]])
    """
    stride = tuple(int(s) for s in stride)
    if background is None:
        value = corner_background(x, len(stride))
    elif isinstance(background, (tuple, list)):
        value = torch.tensor(background, dtype=x.dtype, device=x.device).reshape((1, -1) + (1,) * len(stride))
    else:
        value = float(background)
    local = select_phase(x, stride, value)
    sizes = torch.tensor(stride, dtype=torch.long, device=x.device)
    shift = torch.tensor(tuple(offset) or (0,) * len(stride), dtype=torch.long, device=x.device)
    return (local - shift) % sizes


def border_strides(stride: Sequence[int], border_dims: Sequence[int]) -> tuple[int, ...]:
    """The strides a phase applies to: those of the border's dims, 1 elsewhere (phase 0 there).

    Example:
        >>> border_strides((2, 2, 2), (1, 2))
        (1, 2, 2)
    """
    return tuple(int(s) if d in border_dims else 1 for d, s in enumerate(stride))


def take_phase(x: Tensor, phase: Tensor, stride: Sequence[int], background: Tensor | float = 0.0) -> Tensor:
    """Move each sample of a padded map so that a plain strided window keeps its phase.

    ``y[b, :, i] = x[b, :, phase[b] + i]``, as long as ``x`` (past its end: ``background``). A
    window layer of stride ``s`` run on ``y`` without padding then computes exactly the outputs
    ``s·j + phase[b]`` of its stride-1 version on ``x``, and nothing else.

    Args:
        x: (B, C, *S) the padded input of a strided window layer.
        phase: (B, d) long, each entry below the stride of its dim.
        stride: per spatial dim (dims of stride 1 are left alone).
        background: value past the end: a number or a (B or 1, C, 1, ...) tensor.

    Returns:
        (B, C, *S).

    Example:
        >>> take_phase(torch.tensor([[[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]]]), torch.tensor([[0], [1]]), (2,))
        tensor([[[1., 2., 3.]],
        <BLANKLINE>
                [[2., 3., 0.]]])
    """
    nd = len(stride)
    for d, s in enumerate(stride):
        if s == 1:
            continue
        dim = x.dim() - nd + d
        length = x.shape[dim]
        pads = [(0, 0)] * nd
        pads[d] = (0, s - 1)
        padded = pad_constant(x, pads, background)
        steps = torch.arange(length, device=x.device).reshape([length if i == dim else 1 for i in range(x.dim())])
        index = phase[:, d].reshape([-1] + [1] * (x.dim() - 1)) + steps
        target = list(padded.shape)
        target[dim] = length
        x = torch.gather(padded, dim, index.expand(target))
    return x


def polyphase_downsample(x: Tensor, stride: Sequence[int], background: Tensor | float = 0.0
                         ) -> tuple[Tensor, Tensor]:
    """Keep each sample's :func:`select_phase` component, padded with background to one size.

    Args:
        x: (B, C, *S) stride-1 map on a constant canvas.
        stride: subsampling factor per spatial dim.
        background: the canvas value (number, or a tensor broadcastable to (B, C, 1, ...)).

    Returns:
        ``(y, phase)``: y (B, C, *S') with ``S'_i = ceil(S_i / s_i)``, element ``j`` of sample ``b``
        being ``x[b, :, phase[b] + s·j]`` (background where that is past the map's end); phase (B, d).

    Example:
        >>> y, phase = polyphase_downsample(torch.tensor([[[0.0, 3.0, 0.0, 1.0, 0.0]]]), (2,))
        >>> y, phase
        (tensor([[[3., 1., 0.]]]), tensor([[1]]))
    """
    stride = tuple(int(s) for s in stride)
    phase = select_phase(x, stride, background)
    moved = take_phase(x, phase, stride, background)
    return moved[(Ellipsis, *(slice(None, None, s) for s in stride))], phase
