"""convert(): turn a CNN into any border variant while keeping its weights.

Every ``nn.Conv1d/2d/3d`` becomes a :class:`~fullconv.layers.BorderConv2d` (same parameter
names, so state_dicts load both ways) and every max/average pooling layer follows the rule of
:mod:`fullconv.layers.pool`. ``same`` variants keep every map size, so swapping the layers is
all they need. ``valid``, ``full`` and ``full-exact`` change the map sizes: the model is traced
with ``torch.fx``, the sampling grid of every tensor (its first element's position in input
coordinates and its stride, per spatial dim) is tracked through the graph, and where branches
meet (residual additions, DenseNet concatenations) the maps are aligned by position with
:func:`fullconv.layers.align`.

Grids of strided layers: with full padding the outputs of a 3×3/stride-2 convolution would be
centred between the samples that the 1×1/stride-2 shortcut takes, and no padding can align two
such grids. So every strided layer pads (``full``) or crops (``valid``) so that its outputs
are centred on its input's sampling points (:func:`fullconv.layers.full_phase_left`); the
first outputs of such a layer are then pure background, which costs one row and column.
"""
from __future__ import annotations

import copy
import linecache
import operator
import traceback
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from .layers.align import align
from .layers.borders import FULL_BORDERS, SAME_BORDERS, check_border
from .layers.conv import BORDER_CONV, _BorderConvMixin
from .layers.padding import border_padding, effective_kernel, full_phase_left, per_dim, valid_phase_left
from .layers.pool import BorderPool

_CONVS = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
_MAX_POOLS = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}
_AVG_POOLS = {nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}
_GLOBAL_MODULES = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
                   nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Linear, nn.Flatten)
_GLOBAL_FUNCTIONS = {F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.adaptive_max_pool1d,
                     F.adaptive_max_pool2d, F.adaptive_max_pool3d, torch.flatten, F.linear, torch.mean, torch.sum,
                     torch.amax, torch.amin, torch.reshape, torch.matmul, torch.bmm, torch.einsum}
_GLOBAL_METHODS = {"mean", "sum", "amax", "amin", "view", "reshape", "flatten", "size", "dim", "numel", "squeeze",
                   "max", "min", "norm"}
_FUNCTIONAL_POOLS = {F.max_pool1d: ("max", 1), F.max_pool2d: ("max", 2), F.max_pool3d: ("max", 3),
                     F.avg_pool1d: ("avg", 1), F.avg_pool2d: ("avg", 2), F.avg_pool3d: ("avg", 3),
                     torch.max_pool1d: ("max", 1), torch.max_pool2d: ("max", 2), torch.max_pool3d: ("max", 3)}
_FUNCTIONAL_CONVS = {F.conv1d, F.conv2d, F.conv3d, torch.conv1d, torch.conv2d, torch.conv3d}


class ConversionError(TypeError):
    """A model ``convert()`` cannot handle; the message names the operation and the way out."""


@dataclass(frozen=True)
class Grid:
    """Where a map samples the input: element ``i`` sits at ``anchor + i·stride`` per spatial dim."""

    anchor: tuple[Fraction, ...]
    stride: tuple[int, ...]

    def after(self, kernel: Sequence[int], dilation: Sequence[int], stride: Sequence[int],
              left: Sequence[int]) -> "Grid":
        """Grid of the output of a window operation (kernel, dilation, stride, left padding) on this grid."""
        anchor = tuple(a + (Fraction(effective_kernel(k, d) - 1, 2) - l) * s
                       for a, k, d, l, s in zip(self.anchor, kernel, dilation, left, self.stride))
        return Grid(anchor, tuple(s * t for s, t in zip(self.stride, stride)))


def _input_grid(nd: int) -> Grid:
    return Grid((Fraction(0),) * nd, (1,) * nd)


_INPUT = "input"     # the network input, before any spatial operation
_GLOBAL = "global"   # a tensor without spatial layout (pooled features, logits)


def convert(model: nn.Module, border: str, *, inplace: bool = False, background: float | Sequence[float] = 0.0,
            dims: str | None = None, blurpool: bool = False, blur_size: int = 3,
            paper_stem_pool: bool = False) -> nn.Module:
    """Return ``model`` with every convolution and pooling layer switched to ``border``.

    Args:
        model: a CNN built from ``nn.Conv*d`` / ``nn.*Pool*d`` modules (torchvision classification
            and video models, fullconv's zoo, or any model ``torch.fx`` can trace).
        border: a name from ``fullconv.BORDERS``.
        inplace: convert ``model`` itself (and return it) instead of a deep copy.
        background: value of the input image's background (per channel or one number), in the
            units the network sees (after normalisation); ``full-exact`` pads the input with it.
        dims: 3-D models only: ``"spacetime"`` (default) applies the border to time, height and
            width; ``"spatial"`` to height and width only (time keeps the layer's own padding).
        blurpool: replace every strided convolution and max pooling by its stride-1 version
            followed by blur-and-subsample (Zhang 2019), padded as the border says.
        blur_size: taps of the binomial blur filter.
        paper_stem_pool: replace a ResNet's 3×3/stride-2 stem max pooling by 2×2/stride-2, as the
            F-Conv ResNet of Kayhan & van Gemert (2020) did.

    Returns:
        The converted model, an instance of the model's class with the same attributes and the
        same state_dict keys. Where branches must be aligned (``valid``, ``full``, ``full-exact``
        on residual or dense networks), its class is a subclass whose forward is generated by
        ``torch.fx`` with the alignment in it: call the whole model (its blocks' own forwards
        do not align).

    Raises:
        ValueError: unknown border or option.
        ConversionError: a model that cannot be converted (the message names the operation).

    Example:
        >>> import torchvision
        >>> net = convert(torchvision.models.resnet18(), "full-exact")
        >>> net(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 1000])
    """
    border = check_border(border)
    if dims not in (None, "spatial", "spacetime"):
        raise ValueError(f"unknown dims {dims!r}; choose 'spatial' (height and width) or 'spacetime'")
    if not isinstance(model, nn.Module):
        raise ConversionError(f"convert() needs an nn.Module, got {type(model).__name__}")
    model = model if inplace else copy.deepcopy(model)
    if paper_stem_pool:
        _replace_stem_pool(model)
    swapped = _swap_layers(model, border, dims, blurpool, blur_size)
    if not swapped:
        raise ConversionError(
            f"convert(): {type(model).__name__} has no nn.Conv1d/2d/3d or pooling layer to convert; "
            f"build the model from torch.nn convolution modules")
    if border in SAME_BORDERS:
        return model  # map sizes and grids are unchanged: nothing to align
    graph = _trace(model)
    aligner = _Aligner(model, graph, border, background, dims)
    aligner.run()
    if aligner.rewritten:
        _use_graph_forward(model, graph)
    return model


def _use_graph_forward(model: nn.Module, graph: fx.Graph) -> None:
    """Give ``model`` the forward generated from ``graph``, keeping its class, attributes and layers.

    The model becomes an instance of a subclass of its own class (``isinstance`` still holds, and
    its submodules keep their own forwards); only the top-level forward aligns branches.
    """
    graph.lint()
    forward = type(fx.GraphModule(model, graph)).forward
    cls = type(model)
    model.__class__ = type(cls.__name__, (cls,), {"forward": forward, "__module__": cls.__module__,
                                                  "__qualname__": cls.__qualname__})


# --------------------------------------------------------------------------- layer swapping

def _border_dims(nd: int, dims: str | None) -> tuple[int, ...]:
    if nd == 3 and dims == "spatial":
        return (1, 2)
    if nd != 3 and dims is not None:
        raise ValueError(f"dims={dims!r} applies to 3-D models only; leave it out for {nd}-D layers")
    return tuple(range(nd))


def _original_pads(layer: nn.Module, nd: int, kernel, dilation) -> tuple[tuple[int, int], ...]:
    padding = layer.padding
    if isinstance(padding, str):
        return tuple(border_padding("same" if padding == "same" else "valid", k, d) for k, d in zip(kernel, dilation))
    return tuple((p, p) for p in per_dim(padding, nd))


def layer_pads(border: str, kernel: Sequence[int], dilation: Sequence[int], stride: Sequence[int],
               border_dims: Sequence[int], original: Sequence[tuple[int, int]]
               ) -> tuple[tuple[int, int], ...]:
    """Padding per spatial dim of a converted layer (see the module docstring for the strided rule)."""
    pads = []
    for dim, (k, d, s) in enumerate(zip(kernel, dilation, stride)):
        if dim not in border_dims:
            pads.append(tuple(original[dim]))
        elif border in FULL_BORDERS:
            extent = effective_kernel(k, d) - 1
            pads.append((full_phase_left(k, d, s), extent))
        elif border == "valid":
            pads.append((valid_phase_left(k, d, s), 0))
        else:
            pads.append(border_padding(border, k, d))
    return tuple(pads)


def _convert_conv(layer: nn.Module, nd: int, border: str, dims: str | None) -> nn.Module:
    kernel, stride, dilation = layer.kernel_size, layer.stride, layer.dilation
    border_dims = _border_dims(nd, dims)
    pads = layer_pads(border, kernel, dilation, stride, border_dims, _original_pads(layer, nd, kernel, dilation))
    new = BORDER_CONV[nd](layer.in_channels, layer.out_channels, kernel, stride=stride, dilation=dilation,
                          groups=layer.groups, bias=layer.bias is not None, border=border,
                          border_dims=border_dims, pads=pads, device=layer.weight.device, dtype=layer.weight.dtype)
    new.weight = layer.weight
    if layer.bias is not None:
        new.bias = layer.bias
    new.train(layer.training)
    return new


def _convert_pool(layer: nn.Module, kind: str, nd: int, border: str, dims: str | None) -> nn.Module:
    kernel = per_dim(layer.kernel_size, nd)
    stride = per_dim(layer.stride if layer.stride is not None else layer.kernel_size, nd)
    dilation = per_dim(getattr(layer, "dilation", 1), nd)
    border_dims = _border_dims(nd, dims)
    original = tuple((p, p) for p in per_dim(layer.padding, nd))
    if border in SAME_BORDERS:
        pads = original  # the pooling keeps its own padding (see fullconv.layers.pool)
    else:
        pads = layer_pads(border, kernel, dilation, stride, border_dims, original)
    pool = BorderPool(kind, nd, kernel, stride, dilation, border="same" if border in SAME_BORDERS else border,
                      pads=pads, border_dims=border_dims)
    pool.train(layer.training)
    return pool


def _kind(module: nn.Module, table: dict[type, int]) -> int:
    """Spatial dims of ``module`` if it is an instance of a class in ``table``, else 0."""
    return next((nd for cls, nd in table.items() if isinstance(module, cls)), 0)


def _swap_layers(model: nn.Module, border: str, dims: str | None, blurpool: bool, blur_size: int) -> int:
    """Replace every conv/pool child in place; returns how many layers were converted."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            new = None
            if isinstance(child, (_BorderConvMixin, BorderPool)):
                raise ConversionError(f"convert(): layer {name!r} is already converted ({child.border!r}); "
                                      f"convert the original model instead")
            # subclasses count too (torchvision's Conv3DSimple is an nn.Conv3d): the border decides the padding
            if (nd := _kind(child, _CONVS)):
                new = _convert_conv(child, nd, border, dims)
            elif (nd := _kind(child, _MAX_POOLS)) and (border not in SAME_BORDERS or blurpool):
                new = _convert_pool(child, "max", nd, border, dims)
            elif (nd := _kind(child, _AVG_POOLS)) and border not in SAME_BORDERS:
                new = _convert_pool(child, "avg", nd, border, dims)
            if new is not None:
                if blurpool:
                    _attach_blur(new, blur_size)
                setattr(parent, name, new)
                count += 1
    return count


def _attach_blur(layer: nn.Module, blur_size: int) -> None:
    """Make a strided conv/max-pool stride 1 and blur-and-subsample its output (Zhang 2019)."""
    from .layers.blurpool import BlurPool

    stride = per_dim(layer.stride, len(layer.pads))
    if all(s == 1 for s in stride) or (isinstance(layer, BorderPool) and layer.kind == "avg"):
        return
    if len(stride) != 2:
        raise ValueError("blurpool=True supports 2-D models; leave it out for 1-D and 3-D networks")
    kernel, dilation = per_dim(layer.kernel_size, 2), per_dim(layer.dilation, 2)
    layer.stride = (1, 1)
    if layer.border not in SAME_BORDERS:
        layer.pads = layer_pads(layer.border, kernel, dilation, (1, 1), layer.border_dims, layer.pads)
    blur_pads = None if layer.border in SAME_BORDERS else \
        layer_pads(layer.border, (blur_size,) * 2, (1, 1), stride, (0, 1), ((0, 0), (0, 0)))
    layer.blur = BlurPool(stride, blur_size, layer.border, ndim=2, pads=blur_pads)


def _replace_stem_pool(model: nn.Module) -> None:
    pool = getattr(model, "maxpool", None)
    if not isinstance(pool, nn.MaxPool2d) or per_dim(pool.kernel_size, 2) != (3, 3) or per_dim(pool.stride, 2) != (2, 2):
        raise ConversionError(
            f"paper_stem_pool=True needs a ResNet-style 3×3/stride-2 max pooling at model.maxpool; "
            f"{type(model).__name__} has {pool!r}")
    model.maxpool = nn.MaxPool2d(kernel_size=2, stride=2, padding=0)


# --------------------------------------------------------------------------- tracing

class _Tracer(fx.Tracer):
    """Keeps fullconv's layers and torch.nn's layers as leaves of the graph."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if isinstance(module, (_BorderConvMixin, BorderPool)):
            return True
        if type(module).__module__.startswith("torchvision.ops.stochastic_depth"):
            return True
        return super().is_leaf_module(module, qualified_name)


def _trace(model: nn.Module) -> fx.Graph:
    try:
        return _Tracer().trace(model)
    except Exception as error:  # fx raises many types; all mean "cannot trace"
        raise ConversionError(
            f"convert(): torch.fx cannot trace {type(model).__name__} at {_user_frame(error)}: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}; "
            f"make that operation traceable (no Python control flow on tensor values) or use a 'same' border"
        ) from None


def _user_frame(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if "/torch/" not in frame.filename and frame.filename != __file__:
            line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
            return f"{frame.filename}:{frame.lineno} ({line})"
    return "an unknown operation"


# --------------------------------------------------------------------------- grid tracking and alignment

def _spatial_inputs(node: fx.Node, grids: dict[fx.Node, Any]) -> list[fx.Node]:
    seen: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), lambda n: seen.append(n) if n not in seen else None)
    return [n for n in seen if isinstance(grids.get(n), Grid) or grids.get(n) == _INPUT]


class _Aligner:
    """Walks the graph once, assigns every tensor its grid, and aligns branches where they meet."""

    def __init__(self, model: nn.Module, graph: fx.Graph, border: str, background, dims: str | None) -> None:
        self.model, self.graph = model, graph
        self.border, self.background, self.dims = border, background, dims
        #: whether the graph now differs from the model's own forward (alignment or new layers)
        self.rewritten = False
        self.grids: dict[fx.Node, Any] = {}
        self.pools = 0

    def run(self) -> None:
        for node in list(self.graph.nodes):
            self.grids[node] = self._visit(node)

    def _visit(self, node: fx.Node):
        if node.op == "placeholder":
            return _INPUT
        if node.op in ("get_attr", "output"):
            return None
        if node.op == "call_module":
            module = self.model.get_submodule(node.target)
            if isinstance(module, (_BorderConvMixin, BorderPool)):
                return self._window(node, module)
            if isinstance(module, _GLOBAL_MODULES):
                return _GLOBAL
        if node.op == "call_function":
            if node.target in _FUNCTIONAL_CONVS:
                raise ConversionError(
                    f"convert(): functional convolution {node.name!r} ({node.target.__name__}) has no module to "
                    f"convert; build the model from nn.Conv modules")
            if node.target in _FUNCTIONAL_POOLS:
                return self._window(node, self._functional_pool(node))
            if node.target in _GLOBAL_FUNCTIONS:
                return _GLOBAL
            if node.target is getattr:
                return None
        if node.op == "call_method" and node.target in _GLOBAL_METHODS:
            return _GLOBAL
        return self._pointwise(node)

    def _window(self, node: fx.Node, module: nn.Module):
        source = node.args[0] if node.args else None
        grid = self.grids.get(source) if isinstance(source, fx.Node) else None
        nd = module._nd if isinstance(module, _BorderConvMixin) else module.nd
        margin = 0
        if grid == _INPUT:
            grid = _input_grid(nd)
            if self.border == "full-exact":
                self._set_input_background(module)
                margin = 1
        if not isinstance(grid, Grid):
            return grid
        if len(grid.anchor) != nd:
            raise ConversionError(f"convert(): layer {node.target!r} is {nd}-D but its input has {len(grid.anchor)} "
                                  f"spatial dims; cannot track its sampling grid")
        kernel, dilation = per_dim(module.kernel_size, nd), per_dim(module.dilation, nd)
        stride = per_dim(module.stride, nd)
        grid = self._place(module, grid, kernel, dilation, stride, margin)
        if module.blur is not None:
            blur = module.blur
            grid = self._place(blur, grid, (blur.size,) * nd, (1,) * nd, blur.stride, 0)
        return grid

    def _place(self, layer: nn.Module, grid: Grid, kernel, dilation, stride, margin: int) -> Grid:
        """Set the left padding of a window layer so that its outputs lie on the canonical grid
        (multiples of the output stride; see ``full_phase_left``), and return that grid."""
        pads = list(layer.pads)
        for dim in layer.border_dims:
            if stride[dim] == 1 and not margin:
                continue
            phase = grid.anchor[dim] / grid.stride[dim]
            if self.border in FULL_BORDERS:
                pads[dim] = (full_phase_left(kernel[dim], dilation[dim], stride[dim], margin=margin, phase=phase),
                             pads[dim][1])
            elif self.border == "valid":
                pads[dim] = (valid_phase_left(kernel[dim], dilation[dim], stride[dim], phase=phase), pads[dim][1])
        layer.pads = tuple(pads)
        return grid.after(kernel, dilation, stride, [p[0] for p in layer.pads])

    def _set_input_background(self, module: nn.Module) -> None:
        """The first full-exact layer pads the input with ``background`` (and, through the margin of
        ``_place``, one extra step on the left, so that its first output is pure background and
        later layers can read the background from there)."""
        if isinstance(module, _BorderConvMixin):
            background = self.background
            if not isinstance(background, (int, float)):
                background = torch.as_tensor(background, dtype=torch.float32)
            module.set_background(background)
        else:
            if not isinstance(self.background, (int, float)):
                raise ConversionError("a pooling layer that sees the input needs one background number, not one per channel")
            module.background = float(self.background)

    def _functional_pool(self, node: fx.Node) -> BorderPool:
        """Turn ``F.max_pool2d(x, ...)`` into a call of a BorderPool module added to the model."""
        kind, nd = _FUNCTIONAL_POOLS[node.target]
        names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
        if kind == "avg":
            names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
        bound = dict(zip(names, node.args))
        bound.update(node.kwargs)
        if any(isinstance(v, fx.Node) for k, v in bound.items() if k != "input"):
            raise ConversionError(f"convert(): pooling {node.name!r} has tensor-valued arguments; use constants")
        kernel = per_dim(bound["kernel_size"], nd)
        stride = per_dim(bound.get("stride") or bound["kernel_size"], nd)
        dilation = per_dim(bound.get("dilation", 1), nd)
        pads = layer_pads(self.border, kernel, dilation, stride, tuple(range(nd)),
                          tuple((p, p) for p in per_dim(bound.get("padding", 0), nd)))
        pool = BorderPool(kind, nd, kernel, stride, dilation, border=self.border, pads=pads)
        name = f"fullconv_pool{self.pools}"
        self.pools += 1
        self.model.add_module(name, pool)
        self.rewritten = True
        node.op, node.target = "call_module", name
        node.args, node.kwargs = (bound["input"],), {}
        return pool

    def _pointwise(self, node: fx.Node):
        inputs = _spatial_inputs(node, self.grids)
        if not inputs:
            return _GLOBAL if self._all_global(node) else None
        grids = [self.grids[n] for n in inputs]
        if all(g == _INPUT for g in grids):
            return _INPUT
        grids = [_input_grid(len(next(g for g in grids if isinstance(g, Grid)).anchor)) if g == _INPUT else g
                 for g in grids]
        if len(inputs) == 1:
            return grids[0]
        # maps on the same grid can still differ in length (one branch reaches further right)
        return self._merge(node, inputs, grids)

    def _all_global(self, node: fx.Node) -> bool:
        found: list[Any] = []
        fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(self.grids.get(n)))
        return bool(found) and all(g == _GLOBAL for g in found)

    def _merge(self, node: fx.Node, inputs: list[fx.Node], grids: list[Grid]) -> Grid:
        nd = len(grids[0].anchor)
        if any(len(g.anchor) != nd or g.stride != grids[0].stride for g in grids):
            raise ConversionError(
                f"convert(): cannot align the inputs of {node.name!r} ({_describe(node)}): their strides differ "
                f"({', '.join(str(g.stride) for g in grids)})")
        stride = grids[0].stride
        pick = max if self.border == "valid" else min
        anchor = tuple(pick(g.anchor[d] for g in grids) for d in range(nd))
        earliest = tuple(min(g.anchor[d] for g in grids) for d in range(nd))
        offsets = []
        for g in grids:
            steps = [(g.anchor[d] - earliest[d]) / stride[d] for d in range(nd)]
            if any(step.denominator != 1 for step in steps):
                raise ConversionError(
                    f"convert(): cannot align the inputs of {node.name!r} ({_describe(node)}): their sampling grids "
                    f"are offset by a fraction of the stride ({[str(s) for s in steps]})")
            offsets.append(tuple(int(step) for step in steps))
        border_ndim = 2 if (nd == 3 and self.dims == "spatial") else nd
        graph = self.graph
        self.rewritten = True
        with graph.inserting_before(node):
            aligned = graph.call_function(align, (tuple(inputs), tuple(offsets), self.border, border_ndim))
            for i, source in enumerate(inputs):
                item = graph.call_function(operator.getitem, (aligned, i))
                node.replace_input_with(source, item)
                self.grids[item] = Grid(anchor, stride)
        return Grid(anchor, stride)


def _describe(node: fx.Node) -> str:
    target = node.target
    return getattr(target, "__name__", str(target))

