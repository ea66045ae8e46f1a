"""A certificate of translation equivariance for any model: which canvas shifts it is exact for.

:func:`check_equivariance` is the translation counterpart of escnn's ``check_equivariance``: it
places random content on a constant-background canvas, moves it, and compares the outputs (and
every layer's output on its own sampling grid) with the unshifted ones, in float64 on a copy of
the model.
"""
from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence
from weakref import ref

import torch
import torch.nn as nn
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from ..utils.canvas import place_on_canvas
from .equivariance import relative_difference

#: A stride per spatial dim; ``None`` for a tensor without spatial layout (globally pooled).
Stride = tuple[Fraction, ...] | None


@dataclass(frozen=True)
class ShiftCheck:
    """The outcome for one shift.

    Attributes:
        shift: input shift in pixels, per spatial dim.
        on_stride: whether ``shift`` is a multiple of the total stride per dim.
        error: worst relative error over the outputs, ``max|f(T x) - T' f(x)| / max|f(x)|`` (``T'``
            moves a map output by ``shift / its stride``; vector outputs are compared as they are).
            Where a map's grid does not contain the shift, ``T'`` is the better of the two
            whole-element moves ``floor`` and ``ceil(shift / stride)`` per dim: the move a
            phase-selecting (``downsample="polyphase"``) network makes.
        exact: ``error <= tolerance``.
        first_break: the first layer (in call order) whose output is not the shifted unshifted
            output, with its error or the reason; ``None`` when every layer is exact.
    """

    shift: tuple[int, ...]
    on_stride: bool
    error: float
    exact: bool
    first_break: str | None


@dataclass(frozen=True)
class EquivarianceCertificate:
    """What :func:`check_equivariance` found; ``print()`` it for a table.

    Attributes:
        output: ``"invariant"`` (vector outputs, compared as they are) or ``"equivariant"`` (map
            outputs, compared after moving them back by ``shift / output stride``).
        total_stride: per spatial dim, the shift unit of the model (inferred or given).
        input_shape: (B, C, *S) of the random content; canvas_shape: (B, C, *S') it is placed on.
        dtype, mode: what the copy computed in (``"eval"`` or ``"train"``); calibrated: whether
            BatchNorm statistics were calibrated.
        tolerance: largest relative error still called exact.
        sensitivity: relative difference of the outputs for two independent contents at the same
            place; near 0 means the outputs ignore the content and no error says anything.
        checks: one :class:`ShiftCheck` per shift.
    """

    output: str
    total_stride: tuple[int, ...]
    input_shape: tuple[int, ...]
    canvas_shape: tuple[int, ...]
    dtype: str
    mode: str
    calibrated: bool
    tolerance: float
    sensitivity: float
    checks: tuple[ShiftCheck, ...]

    @property
    def exact_shifts(self) -> tuple[tuple[int, ...], ...]:
        """The shifts the model is exact for."""
        return tuple(c.shift for c in self.checks if c.exact)

    @property
    def all_exact(self) -> bool:
        """Whether every checked shift is exact."""
        return all(c.exact for c in self.checks)

    @property
    def exact_on_stride(self) -> bool:
        """Whether every checked multiple of the total stride is exact (False if none was checked)."""
        on_stride = [c for c in self.checks if c.on_stride]
        return bool(on_stride) and all(c.exact for c in on_stride)

    def max_error(self, on_stride: bool | None = True) -> float:
        """Worst relative error over the shifts that are (or are not) multiples of the total stride; ``None``: all."""
        errors = [c.error for c in self.checks if on_stride is None or c.on_stride == on_stride]
        return max(errors) if errors else math.nan

    def error(self, shift: int | Sequence[int]) -> float:
        """Relative error for one checked shift."""
        wanted = _as_shift(shift, len(self.total_stride))
        for check in self.checks:
            if check.shift == wanted:
                return check.error
        raise KeyError(f"shift {wanted} was not checked; checked: {[c.shift for c in self.checks]}")

    def summary(self) -> str:
        head = (f"{self.output} check, total stride {self.total_stride}, content {self.input_shape} on canvas "
                f"{self.canvas_shape[2:]}, {self.dtype}, {self.mode} mode"
                f"{', BatchNorm calibrated' if self.calibrated else ''}, tolerance {self.tolerance:g}, "
                f"content sensitivity {self.sensitivity:.3g}")
        rows = [f"  shift {str(c.shift):<12} {'stride multiple' if c.on_stride else 'in between':<16} "
                f"error {c.error:<10.3g} {'exact' if c.exact else 'NOT exact'}"
                + ("" if c.first_break is None else f"; first break: {c.first_break}") for c in self.checks]
        return "\n".join([head] + rows)

    __str__ = summary


def check_equivariance(model: nn.Module, input_shape: Sequence[int], *, shifts=None,
                       dtype: torch.dtype = torch.float64, total_stride: int | Sequence[int] | None = None,
                       background: float | Sequence[float] = 0.0, calibrate: bool | int = False,
                       tolerance: float | None = None, seed: int = 0) -> EquivarianceCertificate:
    """Certify for which shifts ``model`` is exactly translation invariant or equivariant.

    Random content of ``input_shape`` is placed on a canvas of constant ``background`` (as large as
    the content plus the largest shift, so the canvas edge only ever holds background) at offset 0
    and at every shift. A vector output (logits) must not change; a map output must move by
    ``shift / stride`` elements (compared where both maps hold values). Every layer's output is
    compared the same way on its own grid, which names the first layer where equivariance breaks.

    The model is deep-copied, cast to ``dtype`` and run in its own mode (``model.training``); the
    model passed in is never changed. float64 makes exact equivariance show as errors near 1e-15
    and any broken one as errors many orders above.

    ``calibrate``: a freshly initialised network has BatchNorm running statistics (mean 0, variance
    1) unrelated to its activations; in a deep net the activations then grow or vanish layer by
    layer, the logits end up set by biases and the background, and they ignore the content, so a
    tiny relative error would certify nothing. ``calibrate=True`` (or a number of batches, default
    4) first runs train-mode forwards of the copy on canvases of random content at random places,
    with ``momentum=None`` (a plain average over those batches), then checks in the model's mode.
    ``sensitivity`` in the result reports whether the output depends on the content at all.

    Args:
        model: maps (B, C, *S') canvases to logits (B, K), maps (B, K, *M), or a tuple / dict of them.
        input_shape: (B, C, *S) of the random content (B >= 2 for train-mode BatchNorm).
        shifts: shifts to check, each an int (every spatial dim) or one non-negative int per dim.
            Default: 1, half the total stride, the total stride and twice it. ``"every"``: along
            each axis every shift 1..S (S: the total stride there, so every residue modulo S), and
            the diagonal 1..S; ``"product"``: every combination of per-axis shifts 0..S
            ((S + 1)^d - 1 forwards).
        dtype: dtype of the computation.
        total_stride: the model's shift unit per dim; default: the least common multiple of the
            strides of all maps of a forward (product of strides along the deepest path).
        background: canvas value, a number or one per channel (in the units the network sees);
            ``convert(..., background=)`` of a ``full-exact`` model must match it.
        calibrate: calibrate BatchNorm statistics first (see above); an int sets the batches.
        tolerance: largest relative error called exact; default 1e-9 in float64, 1e-4 otherwise.
        seed: seed of the content (and of dropout masks, the same for every forward).

    Returns:
        An :class:`EquivarianceCertificate`.

    Example:
        >>> import fullconv
        >>> from fullconv.models import small_resnet
        >>> net = fullconv.convert(small_resnet(in_channels=3, width=4), "full-exact").eval()
        >>> cert = check_equivariance(net, (1, 3, 8, 8), shifts=[4, 8], calibrate=True)
        >>> cert.total_stride, cert.exact_shifts, cert.max_error() < 1e-9
        ((8, 8), ((8, 8),), True)
        >>> cert.error(4) > 1e-6   # half the stride: the strided layers sample other points
        True
    """
    shape = tuple(int(s) for s in input_shape)
    nd = len(shape) - 2
    if nd < 1:
        raise ValueError(f"input_shape must be (B, C, *S) with at least one spatial dim; got {shape}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"check_equivariance needs an nn.Module, got {type(model).__name__}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    tolerance = (1e-9 if dtype == torch.float64 else 1e-4) if tolerance is None else float(tolerance)
    net = copy.deepcopy(model).to(dtype)
    modes = {module: module.training for module in net.modules()}  # restored after the probe and calibration
    named = shifts if isinstance(shifts, str) else None
    if named is not None and named not in _NAMED_SHIFTS:
        raise ValueError(f"shifts={named!r} is not known; use one of {sorted(_NAMED_SHIFTS)} or a list of shifts")
    if shifts is not None and named is None:
        shifts = [_as_shift(s, nd) for s in shifts]

    generator = torch.Generator().manual_seed(seed)
    content = torch.randn(shape, generator=generator, dtype=dtype).to(device)
    other = torch.randn(shape, generator=generator, dtype=dtype).to(device)
    fill = torch.as_tensor(background, dtype=dtype, device=device)

    if shifts is not None and named is None and (not shifts or any(v < 0 for s in shifts for v in s)):
        raise ValueError(f"shifts must be non-negative ints (or one per spatial dim); got {shifts}")
    if total_stride is None:
        with torch.no_grad(), _StrideTracker(nd) as tracker:
            # on the content's own size: a model that takes only some sizes (a same-padded U-Net,
            # multiples of its stride) takes the one it was given
            probe = content.clone()
            tracker.set(probe, (Fraction(1),) * nd)
            net.eval()(probe)
        strides = tracker.total_stride()
    else:
        strides = _as_shift(total_stride, nd)
        if any(s < 1 for s in strides):
            raise ValueError(f"total_stride must be positive per dim; got {strides}")
    if shifts is None:
        shifts = sorted({tuple(max(1, f(s)) for s in strides)
                         for f in (lambda s: 1, lambda s: s // 2, lambda s: s, lambda s: 2 * s)})
    elif named is not None:
        shifts = _NAMED_SHIFTS[named](strides)
    canvas = tuple(size + max(s[d] for s in shifts) for d, size in enumerate(shape[2:]))

    steps = int(calibrate) if not isinstance(calibrate, bool) else (4 if calibrate else 0)
    if steps:
        _calibrate(net, shape, canvas, fill, steps, generator, device, dtype)
    for module, training in modes.items():
        module.train(training)

    run = _Runner(net, nd, seed, device)
    reference = run.record(place_on_canvas(content, canvas, (0,) * nd, fill))
    sensitivity = max(relative_difference(a.tensor, b.tensor) for a, b in
                      zip(reference.outputs, run.record(place_on_canvas(other, canvas, (0,) * nd, fill)).outputs))
    checks = []
    for shift in shifts:
        moved = run.record(place_on_canvas(content, canvas, shift, fill))
        error = max(_shifted_error(a, b, shift) for a, b in zip(reference.outputs, moved.outputs))
        checks.append(ShiftCheck(shift, all(v % s == 0 for v, s in zip(shift, strides)), error,
                                 error <= tolerance, _first_break(reference.layers, moved.layers, shift, tolerance)))
    return EquivarianceCertificate(
        output="equivariant" if any(o.stride is not None and o.tensor.dim() == nd + 2 for o in reference.outputs)
        else "invariant",
        total_stride=strides, input_shape=shape, canvas_shape=shape[:2] + canvas, dtype=str(dtype).replace("torch.", ""),
        mode="train" if net.training else "eval", calibrated=bool(steps), tolerance=tolerance, sensitivity=sensitivity,
        checks=tuple(checks))


def _every_shift(strides: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Along each axis every shift 1..S (S: the total stride there), and the diagonal 1..max S."""
    nd = len(strides)
    shifts = [tuple(k if d == axis else 0 for d in range(nd)) for axis in range(nd) for k in range(1, strides[axis] + 1)]
    if nd > 1:
        shifts += [tuple(min(k, s) for s in strides) for k in range(1, max(strides) + 1)]
    return list(dict.fromkeys(shifts))


def _product_shifts(strides: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every combination of per-axis shifts 0..S (S: the total stride there), except no shift."""
    return [s for s in itertools.product(*(range(t + 1) for t in strides)) if any(s)]


_NAMED_SHIFTS = {"every": _every_shift, "product": _product_shifts}


def _as_shift(value, nd: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * nd
    value = tuple(int(v) for v in value)
    if len(value) != nd:
        raise ValueError(f"a shift needs one entry per spatial dim ({nd}); got {value}")
    return value


@torch.no_grad()
def _calibrate(net: nn.Module, shape, canvas, fill, steps: int, generator, device, dtype) -> None:
    """Replace every BatchNorm's running statistics by their average over ``steps`` batches of canvases."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    batch = (max(2, shape[0]),) + shape[1:]
    for _ in range(steps):
        placed = []
        for _ in range(batch[0]):
            item = torch.randn((1,) + shape[1:], generator=generator, dtype=dtype).to(device)
            offset = [int(torch.randint(0, c - s + 1, (1,), generator=generator)) for c, s in zip(canvas, shape[2:])]
            placed.append(place_on_canvas(item, canvas, offset, fill))
        net(torch.cat(placed))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


# --------------------------------------------------------------------------- forwards with hooks

@dataclass
class _Map:
    """One output tensor of a forward (or of a layer), its stride, and where its spatial dims are
    when a permute moved them (``None``: the trailing dims)."""

    tensor: Tensor
    stride: Stride
    axes: tuple[int, ...] | None = None


@dataclass
class _Forward:
    outputs: list[_Map]
    layers: list[tuple[str, _Map]]


class _Runner:
    """Runs the copy with hooks on every submodule, recording each output and its stride."""

    def __init__(self, net: nn.Module, nd: int, seed: int, device: torch.device) -> None:
        self.net, self.nd, self.seed, self.device = net, nd, seed, device

    @torch.no_grad()
    def record(self, canvas: Tensor) -> _Forward:
        layers: list[tuple[str, _Map]] = []
        tracker = _StrideTracker(self.nd)

        def hook(name):
            def save(module, args, output):
                for i, tensor in enumerate(_tensors(output)):
                    layers.append((f"{name}[{i}]" if i else name,
                                   _Map(tensor.detach().clone(), tracker.stride_of(tensor), tracker.axes_of(tensor))))
            return save

        handles = [m.register_forward_hook(hook(name)) for name, m in self.net.named_modules() if name]
        devices = [self.device] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed)  # identical dropout masks in every forward
                with tracker:
                    tracker.set(canvas, (Fraction(1),) * self.nd)
                    output = self.net(canvas)
                    outputs = [_Map(t, tracker.stride_of(t), tracker.axes_of(t)) for t in _tensors(output)]
        finally:
            for handle in handles:
                handle.remove()
        if not outputs:
            raise TypeError(f"{type(self.net).__name__} returned no tensor; check_equivariance needs tensor outputs")
        return _Forward(outputs, layers)


def _tensors(output: Any) -> list[Tensor]:
    return [t for t in tree_leaves(output) if isinstance(t, Tensor) and t.is_floating_point()]


def _steps(shift: Sequence[int], stride: Stride) -> tuple[int, ...] | None:
    """Elements a map moves by for an input ``shift``; None when its grid does not contain the shift."""
    steps = [Fraction(s) / t for s, t in zip(shift, stride)]
    return None if any(v.denominator != 1 for v in steps) else tuple(int(v) for v in steps)


def _candidate_steps(shift: Sequence[int], stride: Stride) -> list[tuple[int, ...]]:
    """The whole-element moves a map may make for an input ``shift``.

    On its grid, ``shift / stride``. Off it, per dim the floor or the ceiling of ``shift / stride``:
    a phase-selecting downsampling layer (``convert(..., downsample="polyphase")``) keeps the same
    samples, which then sit ``floor((phase + shift) / s)`` elements further, and composed levels
    stay within the floor and the ceiling of ``shift / total stride``.
    """
    options = []
    for s, t in zip(shift, stride):
        v = Fraction(s) / t
        options.append([int(v)] if v.denominator == 1 else [math.floor(v), math.ceil(v)])
    return [tuple(c) for c in itertools.product(*options)]


def _shifted_error(first: _Map, second: _Map, shift: Sequence[int]) -> float:
    """Relative error of ``second == first moved by shift``: maps on their grid, the rest as they are.

    A map whose grid does not contain the shift is compared under each whole-element move of
    :func:`_candidate_steps`, and each sample's smallest error counts (with polyphase
    downsampling every sample has its own phases, so its own move).
    """
    a, b = first.tensor, second.tensor
    if a.shape != b.shape:
        return math.inf
    nd = len(shift)
    if first.stride is None or a.dim() < nd + 2 or len(first.stride) != nd:
        return relative_difference(a, b)
    if first.axes is not None:  # a channels-last map: compare it with its spatial dims last
        trailing = tuple(range(a.dim() - nd, a.dim()))
        a, b = a.movedim(first.axes, trailing), b.movedim(first.axes, trailing)
    scale = a.abs().max().item()
    moved = [_moved_difference(a, b, steps) for steps in _candidate_steps(shift, first.stride)]
    if all(d is None for d in moved):
        return math.inf  # nothing in common: the canvas is too small for this layer
    # each sample may have chosen its own phases, so each takes its best move
    diff = torch.stack([d for d in moved if d is not None]).min(0).values.max().item()
    return diff / scale if scale > 0 else diff


def _moved_difference(a: Tensor, b: Tensor, steps: Sequence[int]) -> Tensor | None:
    """Per sample ``max|a - b moved back by steps|`` over the common part: (B,); None if there is none."""
    nd = len(steps)
    if any(k >= n for k, n in zip(steps, a.shape[-nd:])):
        return None
    lead = (slice(None),) * (a.dim() - nd)
    keep_a = lead + tuple(slice(0, n - k) for k, n in zip(steps, a.shape[-nd:]))
    keep_b = lead + tuple(slice(k, None) for k in steps)
    return (a[keep_a] - b[keep_b]).abs().flatten(1).max(1).values


def _first_break(reference: list[tuple[str, _Map]], moved: list[tuple[str, _Map]], shift, tolerance: float):
    if len(reference) != len(moved):
        return "the two forwards called different layers"
    for (name, a), (_, b) in zip(reference, moved):
        error = _shifted_error(a, b, shift)
        if error <= tolerance:
            continue
        if a.stride is not None and len(a.stride) == len(shift) and _steps(shift, a.stride) is None:
            return (f"{name} (stride {tuple(str(s) for s in a.stride)}: the shift is not on its grid, and no "
                    f"whole-element move matches: error {error:.3g})")
        return f"{name} (error {error:.3g})"
    return None


# --------------------------------------------------------------------------- stride tracking

_STRIDED = re.compile(r"^_?(conv\dd|max_pool\dd(_with_indices)?|avg_pool\dd|lp_pool\dd|conv_transpose\dd)$")
_GLOBAL = re.compile(r"^_?adaptive_(avg|max)_pool\dd(_with_indices)?$")


class _StrideTracker(TorchFunctionMode):
    """Follows every tensor's stride (input pixels per element) through the torch functions of a forward.

    Convolutions and poolings multiply it by their stride, transposed convolutions and upsampling
    divide it, adaptive pooling makes a tensor global, and everything else passes on the largest
    stride among its inputs (the deepest path).
    """

    def __init__(self, nd: int) -> None:
        super().__init__()
        self.nd = nd
        self._strides: dict[int, tuple[Any, Stride]] = {}
        #: tensors whose spatial dims a permute moved: where they are
        self._axes: dict[int, tuple[Any, tuple[int, ...]]] = {}
        self.seen: list[tuple[Fraction, ...]] = []

    def set(self, tensor: Tensor, stride: Stride, axes: tuple[int, ...] | None = None) -> None:
        self._strides[id(tensor)] = (ref(tensor), stride)
        if axes is None:
            self._axes.pop(id(tensor), None)
        else:
            self._axes[id(tensor)] = (ref(tensor), axes)
        if stride is not None:
            self.seen.append(stride)

    def axes_of(self, tensor: Tensor) -> tuple[int, ...] | None:
        entry = self._axes.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None

    def _moved_axes(self, name: str, args, kwargs, source: Tensor, output) -> tuple[int, ...] | None:
        """Where ``output``'s spatial dims are: a permute moves them, a same-rank op that is not a
        window layer keeps them (layer norm, a linear layer over channels-last maps)."""
        if not isinstance(output, Tensor):
            return None
        before = self.axes_of(source)
        if name == "permute":
            dims = kwargs.get("dims", args[1] if len(args) == 2 else args[1:])
            dims = [d % output.dim() for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
            before = before or tuple(range(source.dim() - self.nd, source.dim()))
            axes = tuple(dims.index(a) for a in before)
            return None if axes == tuple(range(output.dim() - self.nd, output.dim())) else axes
        if before is not None and not _STRIDED.match(name) and output.dim() == source.dim():
            return before
        return None

    def stride_of(self, tensor: Tensor) -> Stride:
        entry = self._strides.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else None

    def _known(self, tensor: Tensor) -> bool:
        entry = self._strides.get(id(tensor))
        return entry is not None and entry[0]() is tensor

    def total_stride(self) -> tuple[int, ...]:
        total = [1] * self.nd
        for stride in self.seen:
            for d, s in enumerate(stride):
                if s.denominator == 1:
                    total[d] = math.lcm(total[d], int(s))
        return tuple(total)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor) and self._known(t)]
        if not inputs:
            return output
        known = [self.stride_of(t) for t in inputs]
        spatial = [s for s in known if s is not None]
        stride: Stride = tuple(max(s[d] for s in spatial) for d in range(self.nd)) if spatial else None
        name = getattr(func, "__name__", "")
        if stride is not None:
            stride = self._layer_stride(name, args, kwargs, inputs[0], stride)
        if stride is not None and not _STRIDED.match(name) and _pooled(output, inputs[0], self.nd):
            stride = None  # pooled to one element per map (a squeeze-and-excitation gate, a mean with keepdim)
        targets = list(tree_leaves(output))
        if name == "__setitem__" or (name.endswith("_") and not name.endswith("__")):
            targets.append(args[0])  # written in place (padding writes a map into a background canvas)
        axes = self._moved_axes(name, args, kwargs, inputs[0], output) if stride is not None else None
        for tensor in targets:
            if isinstance(tensor, Tensor):
                self.set(tensor, stride, axes)
        return output

    def _layer_stride(self, name: str, args, kwargs, source: Tensor, stride: tuple[Fraction, ...]) -> Stride:
        if _GLOBAL.match(name):
            return None
        if _STRIDED.match(name):
            if "conv" in name:
                factor = kwargs.get("stride", args[3] if len(args) > 3 else 1)
            else:
                factor = kwargs.get("stride", args[2] if len(args) > 2 else None) or \
                    kwargs.get("kernel_size", args[1] if len(args) > 1 else 1)
            factor = _per_dim(factor, self.nd)
            if "transpose" in name:
                return tuple(s / f for s, f in zip(stride, factor))
            return tuple(s * f for s, f in zip(stride, factor))
        if name in ("interpolate", "upsample", "upsample_nearest", "upsample_bilinear"):
            size = kwargs.get("size", args[1] if len(args) > 1 else None)
            if size is not None:
                sizes = _per_dim(size, self.nd)
                return tuple(s * Fraction(n, m) for s, n, m in zip(stride, source.shape[-self.nd:], sizes))
            scale = _per_dim(kwargs.get("scale_factor", args[2] if len(args) > 2 else 1), self.nd)
            return tuple(s / Fraction(f).limit_denominator(1000) for s, f in zip(stride, scale))
        if name == "pixel_shuffle":
            return tuple(s / int(args[1]) for s in stride)
        if name == "pixel_unshuffle":
            return tuple(s * int(args[1]) for s in stride)
        return stride


def _pooled(output, source: Tensor, nd: int) -> bool:
    """Whether ``output`` is ``source`` reduced to a single element per spatial map."""
    return (isinstance(output, Tensor) and output.dim() == source.dim() >= nd + 2 and
            all(n == 1 for n in output.shape[-nd:]) and any(n > 1 for n in source.shape[-nd:]))


def _per_dim(value, nd: int) -> tuple[int, ...]:
    if isinstance(value, (int, float)):
        return (value,) * nd
    value = tuple(value)
    return value * nd if len(value) == 1 else value
