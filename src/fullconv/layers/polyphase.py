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
:func:`window_at_phase` in every strided layer of that level: the samples that keep the same phase
are computed together, with the strided layer's own padding, so that a layer computes only the
samples it keeps and no shifted copy of its input is made (:func:`take_phase` is the reference
those layers are tested against, and what layers that cannot use the fast path fall back to).
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .padding import corner_background, crop, pad_constant, torch_pad_arg

#: norms within this many rounding errors (of the dtype) of the largest count as a tie
_TIE_ULPS = 256
#: :func:`window_at_phase` runs each phase group on its own when a group holds at least this many
#: output positions on average (samples x positions per sample), else the whole batch at once
_GROUP_WORK = 2048


def phase_norms(x: Tensor, stride: Sequence[int], background: Tensor | float = 0.0) -> Tensor:
    """Squared norm of ``x - background`` over each polyphase component, per sample.

    Args:
        x: (B, C, *S) stride-1 map, ``len(stride)`` trailing spatial dims.
        stride: subsampling factor per spatial dim.
        background: a number, or a tensor broadcastable to ``x`` (e.g. (B, C, 1, 1)).

    Returns:
        (B, P) with ``P = prod(stride)``, phases in the order of :func:`phases`; float32 at least.

    Example:
        >>> phase_norms(torch.tensor([[[0.0, 3.0, 0.0, 1.0]]]), (2,))
        tensor([[ 0., 10.]])
    """
    if x.dim() != len(stride) + 2:
        raise ValueError(f"x must be (B, C, *S) with {len(stride)} spatial dims for stride {tuple(stride)}; "
                         f"got shape {tuple(x.shape)}")
    centred = (x - background) ** 2
    if centred.is_floating_point() and torch.finfo(centred.dtype).bits < 32:
        centred = centred.float()  # sums of squares in (b)float16 would round away the differences
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
    x = x.detach()  # a discrete choice: no gradient flows through it, and no graph is kept for it
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


def phase_groups(phase: Tensor, stride: Sequence[int]) -> list[tuple[tuple[int, ...], Tensor | None]]:
    """The samples that keep each phase: ``[(q, indices), ...]`` for each phase some sample keeps.

    Args:
        phase: (B, d) long; entries of dims whose ``stride`` is 1 are ignored (phase 0 there).
        stride: per spatial dim, the phase's modulus.

    Returns:
        the phases in raster order; ``indices`` (long, increasing) is ``None`` when every sample
        keeps the same phase.

    Example:
        >>> phase_groups(torch.tensor([[1], [0], [1]]), (2,))
        [((0,), tensor([1])), ((1,), tensor([0, 2]))]
        >>> phase_groups(torch.tensor([[1, 1], [0, 1]]), (1, 2))  # dim 0 keeps phase 0
        [((0, 1), None)]
    """
    stride = tuple(int(s) for s in stride)
    sizes = torch.tensor(stride, dtype=torch.long, device=phase.device)
    weights = torch.tensor([math.prod(stride[i + 1:]) for i in range(len(stride))], device=phase.device)
    code = (torch.where(sizes > 1, phase, 0) * weights).sum(1)
    table = phases(stride)
    counts = torch.bincount(code, minlength=len(table)).tolist()
    used = [p for p, n in enumerate(counts) if n]
    if len(used) == 1:
        return [(table[used[0]], None)]
    parts = torch.argsort(code, stable=True).split(counts)
    return [(table[p], parts[p]) for p in used]


def merge_groups(outputs: Sequence[Tensor], groups: Sequence[tuple[tuple[int, ...], Tensor | None]]) -> Tensor:
    """Put the per-group results of :func:`phase_groups` back in the batch's order: (B, ...)."""
    if groups[0][1] is None:
        return outputs[0]
    order = torch.cat([indices for _, indices in groups])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order), device=order.device)
    return torch.cat(tuple(outputs)).index_select(0, inverse)


def _symmetric_window(length: int, left: int, right: int, q: int, stride: int, reach: int) -> tuple[int, int, int]:
    """(padding P, first output m, count n): outputs ``m .. m+n-1`` of a stride-``stride`` window of
    reach ``reach`` on a map of ``length`` zero-padded by P on both sides are the outputs of the same
    window at phase ``q`` on the map padded by (left, right) (:func:`take_phase`'s layout)."""
    count = (length + left + right - reach - 1) // stride + 1
    padding, first = left - q, 0
    while padding < 0 or (length + 2 * padding - reach - 1) // stride + 1 < first + count:
        padding, first = padding + stride, first + 1
    return padding, first, count


def window_at_phase(x: Tensor, phase: Tensor, phase_stride: Sequence[int], pads: Sequence[tuple[int, int]],
                    window: Callable[[Tensor, tuple[int, ...]], Tensor], *, stride: Sequence[int] | None = None,
                    reach: Sequence[int] | None = None, value: float = 0.0) -> Tensor:
    """A strided window layer at each sample's phase, without a shifted copy of ``x``.

    Computes ``window(take_phase(pad_constant(x, pads, value), phase, phase_stride, value), 0)``:
    the samples that keep the same phase are run together, and the phase becomes a padding (when
    the groups are small, each is padded and the window runs once on the whole batch).

    - With ``stride`` and ``reach`` (a convolution, which pads any amount itself, with zeros:
      ``value`` must be 0): ``window(z, P)`` must zero-pad ``z`` by ``P[i]`` on both sides of dim
      ``i`` and apply a window of reach ``reach`` (``d·(k-1)``) and stride ``stride``; the outputs
      the phase does not keep (at most a few at each end) are cropped.
    - Without (a pooling layer, whose own padding is limited): each group is padded once with
      ``value``, the phase taken off its left, and ``window(z, (0, ...))`` runs unpadded.

    Args:
        x: (B, C, *S) the layer's unpadded input.
        phase: (B, d) long, from :func:`choose_phase`.
        phase_stride: per spatial dim, the phase's modulus (1: the phase stays 0 there).
        pads: ``(left, right)`` per spatial dim, as the layer would pad (negative crops).
        window: the layer, as described above.
        stride, reach: per spatial dim, for a layer that pads itself.
        value: the padded value.

    Returns:
        the window's output, (B, C', *S') as on the padded, phase-moved map.

    Example:
        >>> x = torch.arange(1.0, 6.0).reshape(1, 1, 5).repeat(2, 1, 1)
        >>> conv = lambda z, padding: F.conv1d(z, torch.ones(1, 1, 2), None, 2, padding)
        >>> window_at_phase(x, torch.tensor([[0], [1]]), (2,), ((1, 1),), conv, stride=(2,), reach=(1,)).tolist()
        [[[1.0, 5.0, 9.0]], [[3.0, 7.0, 5.0]]]
    """
    nd = len(pads)
    x = crop(x, pads)
    pads = tuple((max(left, 0), max(right, 0)) for left, right in pads)
    groups = phase_groups(phase, phase_stride)
    explicit = reach is None

    def padded_at(z: Tensor, q: tuple[int, ...]) -> Tensor:
        """``z`` padded by ``pads`` with the phase ``q`` taken off its left (F.pad crops where negative)."""
        return F.pad(z, torch_pad_arg(tuple((left - p, right + p) for (left, right), p in zip(pads, q))), value=value)
    if not explicit and len(groups) > 1:
        outputs_per_sample = math.prod((n + left + right - k - 1) // s + 1
                                       for n, (left, right), s, k in zip(x.shape[-nd:], pads, stride, reach))
        if x.shape[0] * outputs_per_sample < _GROUP_WORK * len(groups):
            # small groups on small maps: a layer with weights runs far below its speed on a few
            # samples (its weight gradient sums over few positions), so pad each group and run
            # the window once on the whole batch
            padded = [padded_at(x.index_select(0, indices), q) for q, indices in groups]
            return merge_groups([window(torch.cat(padded), (0,) * nd)], [((), torch.cat([i for _, i in groups]))])
    outputs = []
    for q, indices in groups:
        z = x if indices is None else x.index_select(0, indices)
        if explicit:
            outputs.append(window(padded_at(z, q), (0,) * nd))
            continue
        geometry = [_symmetric_window(n, left, right, p, s, k) for n, (left, right), p, s, k
                    in zip(z.shape[-nd:], pads, q, stride, reach)]
        y = window(z, tuple(padding for padding, _, _ in geometry))
        outputs.append(y[(Ellipsis, *(slice(first, first + count) for _, first, count in geometry))])
    return merge_groups(outputs, groups)


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
