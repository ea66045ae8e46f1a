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
same samples.

This module selects the phases; ``convert()`` does not use it yet.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import torch
from torch import Tensor


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
    """
    stride = tuple(int(s) for s in stride)
    table = torch.tensor(phases(stride), dtype=torch.long, device=x.device)          # (P, d)
    norms = phase_norms(x, stride, background)                                          # (B, P)
    best = norms == norms.max(dim=1, keepdim=True).values                              # (B, P) ties
    differs = (x != background).any(dim=1)                                              # (B, *S)
    first = torch.zeros((x.shape[0], len(stride)), dtype=torch.long, device=x.device)  # phase of the first element
    for b in range(x.shape[0]):
        found = differs[b].nonzero()
        if len(found):
            first[b] = found[0] % torch.tensor(stride, device=x.device)                # raster order: lexicographic
    sizes = torch.tensor(stride, device=x.device)
    # rank of each phase after the first element's phase, in raster order of (p - f) mod s
    after = (table[None] - first[:, None]) % sizes                                      # (B, P, d)
    weights = torch.tensor([math.prod(stride[i + 1:]) for i in range(len(stride))], device=x.device)
    rank = (after * weights).sum(-1)                                                    # (B, P)
    rank = torch.where(best, rank, torch.full_like(rank, len(table)))
    return table[rank.argmin(dim=1)]


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
    size = [-(-n // s) for n, s in zip(x.shape[2:], stride)]
    out = torch.as_tensor(background, dtype=x.dtype, device=x.device).expand(*x.shape[:2], *size).clone()
    for b in range(x.shape[0]):
        kept = x[(b, slice(None), *(slice(int(p), None, s) for p, s in zip(phase[b], stride)))]
        out[(b, slice(None), *(slice(0, n) for n in kept.shape[1:]))] = kept
    return out, phase

