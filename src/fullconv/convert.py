"""convert(): turn a CNN into any border variant while keeping its weights.

Every ``nn.Conv1d/2d/3d`` becomes a :class:`~fullconv.layers.BorderConv2d` (same parameter
names, so state_dicts load both ways) and every max/average pooling layer follows the rule of
:mod:`fullconv.layers.pool`. ``same`` variants keep every layer's own padding amounts (in the
border's mode), hence every map size, so swapping the layers is all they need; plain ``same``
computes the original model (except TensorFlow-"same" convolutions, whose padding depends on
the input size: they get the symmetric same amounts). ``valid``, ``full`` and ``full-exact``
change the map sizes: the model is traced with ``torch.fx`` and converted in four passes, one
job each:

1. layers are swapped: every conv/pool module becomes its border layer (``_swap_layers``, before
   tracing; all that ``same`` variants need);
2. functional pools (``F.max_pool2d``) become :class:`~fullconv.layers.BorderPool` modules;
3. every window layer is placed on its grid (``_GridPass``): the layer sets its own padding once,
   from its input's :class:`~fullconv.layers.grid.Grid`, and gives the grid of its output
   (:meth:`GridWindow.place <fullconv.layers.grid.GridWindow.place>`; the pass tracks the grids
   through everything else). This pass leaves the graph alone and returns what must change
   there as edits;
4. the grid pass's edits are made (``_rewrite``): where branches meet (additions,
   multiplications, concatenations, their in-place forms) the maps are aligned with
   :func:`fullconv.layers.align`; calls that placement changes are swapped in place (a model's
   own ``F.pad`` filled with the background, interpolation to another map's size turned into one
   by the stride ratio, the phase choices of ``downsample="polyphase"``, the crop of
   ``output="input-size"``).

Grids follow the original model's index correspondence. Element ``i`` of a map of the original
(same-padded) model is a response the original model computed; the converted map keeps it, at
index ``i + lead``, among the extra border responses of the variant (``lead < 0`` for ``valid``,
which drops responses). Every strided layer pads (``full``) or crops (``valid``) on the left until
the original sampling positions are among its outputs, so ``lead`` is an integer by construction,
and branches are aligned so that the elements the original model combined are still combined:
in a ResNet-D, a 2×2 average-pool shortcut (centred at ``2i + 1/2``) still meets the 3×3/stride-2
convolution (centred at ``2i``) index by index. For models whose layers all sample the same
positions (every torchvision classifier), this is alignment by position. The first outputs of a
strided layer can be pure background, which costs one row and column.

``full-exact`` pads with each map's own background. After a strided transposed convolution that
background repeats with the stride instead of being one value; :attr:`Grid.period` tracks it, every
map keeps one whole period of pure background in front, and the layers that read it pad with that
pattern (:func:`~fullconv.layers.padding.pad_periodic`), so U-Nets with strided transposed
convolutions are exact too.
"""
from __future__ import annotations

import copy
import linecache
import math
import operator
import traceback
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Iterator, Sequence

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from .layers.align import align, crop_to
from .layers.blurpool import BlurPool
from .layers.borders import BORDERS, Border, get_border
from .layers.conv import BORDER_CONV, BORDER_CONV_TRANSPOSE, BorderStdConv2d, _BorderConvMixin, _BorderConvTransposeMixin
from .layers.grid import Grid, GridWindow, period_field
from .layers.padding import pad_with_background, per_dim
from .layers.polyphase import choose_phase
from .layers.pool import BorderPool
from .layers.space_to_depth import SpaceToDepth
from .layers.upsample import interpolate_on_background

_CONVS = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
_CONV_TRANSPOSES = {nn.ConvTranspose1d: 1, nn.ConvTranspose2d: 2, nn.ConvTranspose3d: 3}
_MAX_POOLS = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}
_AVG_POOLS = {nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}
_GLOBAL_MODULES = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
                   nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Linear, nn.Flatten)
_GLOBAL_FUNCTIONS = {F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.adaptive_max_pool1d,
                     F.adaptive_max_pool2d, F.adaptive_max_pool3d, torch.flatten, F.linear, torch.reshape, torch.matmul,
                     torch.bmm, torch.einsum}
_GLOBAL_METHODS = {"view", "reshape", "flatten", "size", "dim", "numel", "squeeze", "max", "min", "norm"}
#: reductions: global over a spatial dim (or all dims), grid-keeping over leading dims only
_REDUCE_FUNCTIONS = {torch.mean, torch.sum, torch.amax, torch.amin}
_REDUCE_METHODS = {"mean", "sum", "amax", "amin"}
_FUNCTIONAL_POOLS = {F.max_pool1d: ("max", 1), F.max_pool2d: ("max", 2), F.max_pool3d: ("max", 3),
                     F.avg_pool1d: ("avg", 1), F.avg_pool2d: ("avg", 2), F.avg_pool3d: ("avg", 3),
                     torch.max_pool1d: ("max", 1), torch.max_pool2d: ("max", 2), torch.max_pool3d: ("max", 3)}
_FUNCTIONAL_CONVS = {F.conv1d, F.conv2d, F.conv3d, torch.conv1d, torch.conv2d, torch.conv3d}
_INTERPOLATIONS = {F.interpolate, F.upsample}
_CONVERTED = (_BorderConvMixin, _BorderConvTransposeMixin, BorderPool, BlurPool, SpaceToDepth)
#: layers whose output grid differs from their input's: a module holding none is traced as one leaf
_SPATIAL_MODULES = (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
                    nn.Upsample) + _CONVERTED
#: the window layers the grid pass places (:class:`~fullconv.layers.grid.GridWindow`)
_WINDOWS = (_BorderConvMixin, BorderPool, BlurPool, SpaceToDepth)
_CONTAINERS = (nn.Module, nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


class ConversionError(TypeError):
    """A model ``convert()`` cannot handle; the message names the operation and the way out."""


class _NetworkInput:
    """Grid state of the network input (and pointwise functions of it) before any spatial layer."""

    def __repr__(self) -> str:  # pragma: no cover - repr only
        return "NETWORK_INPUT"


class _Global:
    """Grid state of a tensor without spatial layout (pooled features, logits)."""

    def __repr__(self) -> str:  # pragma: no cover - repr only
        return "GLOBAL"


@dataclass(frozen=True)
class _Lost(_Global):
    """Grid state of a map whose layout a reshape changed in a way the pass cannot follow (a
    space-to-depth, attention's (B, C, H·W)), and of what is computed from it: without spatial
    layout as far as the grids know. A window layer other than a 1×1 one refuses it (placed, it
    would guess its grid), instead of being put back unconverted as on pooled features."""

    node: str  # the reshape, by name
    op: str

    def __repr__(self) -> str:  # pragma: no cover - repr only
        return f"LOST({self.node})"


NETWORK_INPUT = _NetworkInput()
GLOBAL = _Global()

#: what the grid pass knows of a node: a map on a :class:`Grid`, the network input (or a pointwise
#: function of it) before any spatial layer, a tensor without spatial layout, or nothing spatial
#: (shapes, constants, parameters)
GridState = Grid | _NetworkInput | _Global | None

#: operations that change a map's layout (global where the map was pooled, lost where it had a grid)
_LAYOUT_FUNCTIONS = {torch.flatten, torch.reshape, torch.matmul, torch.bmm, torch.einsum}
_LAYOUT_METHODS = {"view", "reshape", "flatten"}


def _input_grid(nd: int) -> Grid:
    return Grid((0,) * nd, (1,) * nd, nd + 2)


def _axes(grid: Grid) -> tuple[int, ...]:
    """The tensor positions of ``grid``'s spatial dims (``grid.rank`` known)."""
    return grid.axes or tuple(range(grid.rank - len(grid.lead), grid.rank))


def _with_axes(grid: Grid, axes: tuple[int, ...]) -> Grid:
    """``grid`` with its spatial dims at ``axes`` (``()`` where they are the trailing ones, in order)."""
    trailing = axes == tuple(range(grid.rank - len(grid.lead), grid.rank))
    return replace(grid, axes=() if trailing else axes)


#: how strided layers subsample (``convert(..., downsample=)``)
DOWNSAMPLES = ("strided", "polyphase", "blur-polyphase")


def convert(model: nn.Module, border: str | Border, *, inplace: bool = False, background: float | Sequence[float] = 0.0,
            dims: str | None = None, blurpool: bool = False, blur_size: int = 3,
            paper_stem_pool: bool = False, output: str = "map", example_input: torch.Tensor | None = None,
            downsample: str = "strided") -> nn.Module:
    """Return ``model`` with every convolution and pooling layer switched to ``border``.

    Args:
        model: a CNN built from ``nn.Conv*d`` / ``nn.*Pool*d`` modules (torchvision classification
            and video models, timm CNNs, fullconv's zoo, or any model ``torch.fx`` can trace).
        border: a name from ``fullconv.BORDERS`` (or a :class:`~fullconv.layers.Border`).
        inplace: convert ``model`` itself (and return it) instead of a deep copy. All or nothing:
            the model is converted as a copy that shares its parameters and buffers, and swapped
            into ``model`` only when the conversion succeeded.
        background: value of the input image's background (per channel or one number), in the
            units the network sees (after normalisation); ``full-exact`` pads the input with it.
        dims: 3-D models only: ``"spacetime"`` (default) applies the border to time, height and
            width; ``"spatial"`` to height and width only (time keeps the layer's own padding).
        blurpool: replace every strided convolution and max pooling by its stride-1 version
            followed by blur-and-subsample (Zhang 2019), padded as the border says.
        blur_size: taps of the binomial blur filter.
        paper_stem_pool: replace a ResNet's 3×3/stride-2 stem max pooling by 2×2/stride-2, as the
            F-Conv ResNet of Kayhan & van Gemert (2020) did.
        output: dense prediction (a final ``F.interpolate(x, size=input.shape[-2:])``): ``"map"``
            (default) upsamples by the total stride instead, so the output map covers the input
            and the border responses around it and is exactly equivariant with ``full-exact``;
            ``"input-size"`` crops that map to the input's positions (the original's output
            indices): the same values where it keeps them, but the border responses beyond the
            input are dropped, so content near the border is cut off. ``full`` variants only.
        example_input: an input (B, C, *S) for models whose forward branches on *shapes*, such as
            timm's VGG head (``if x.shape[-2] < self.input_kernel_size: ...``), which ``torch.fx``
            alone cannot trace. Tracing then runs the model on it alongside and takes each such
            branch as this input takes it; the converted model keeps those branches at every
            input size, so give an input of the size you will use. Branches on tensor *values*
            stay refused. Not needed (and not used) for models that trace without it.
        downsample: how strided layers subsample. ``"strided"`` (default) keeps every ``s``-th
            output from the first. ``"polyphase"`` keeps, per sample, the phase of largest
            background-subtracted norm (:mod:`fullconv.layers.polyphase`), chosen once per
            resolution level on the input of its first strided layer; every strided layer of that
            level (a ResNet block's main path and shortcut) keeps the same original indices, and
            computes only those. With ``full-exact`` the model is then exactly invariant to every
            integer shift of content on a constant canvas (global pooling head, content inside the
            canvas); with ``full`` approximately, as APS is under zero padding.
            ``"blur-polyphase"``: BlurPool's filter before the selection (``blurpool=True``'s
            layout, 2-D models). ``full`` borders only; models that upsample a polyphase map
            (U-Nets, HRNet) are refused.

    Returns:
        The converted model, an instance of the model's class with the same attributes and the
        same state_dict keys; every parameter and buffer is bit-identical to the original's
        (tracing runs the model's forward, and whatever that forward changes is restored).
        Where branches must be aligned (``valid``, ``full``, ``full-exact`` on residual or dense
        networks), its class is a subclass whose forward is generated by ``torch.fx`` with the
        alignment in it: call the whole model (its blocks' own forwards do not align). That
        class pickles (``torch.save(net)`` / ``torch.load(..., weights_only=False)``) and
        deep-copies like the original.

    Raises:
        ValueError: unknown border or option, or a ``background`` that does not match the
            input channels of the first convolution.
        ConversionError: a model that cannot be converted (the message names the operation).

    Example:
        >>> import torchvision
        >>> net = convert(torchvision.models.resnet18(), "full-exact")
        >>> net(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 1000])
    """
    border = get_border(border)
    if dims not in (None, "spatial", "spacetime"):
        raise ValueError(f"unknown dims {dims!r}; choose 'spatial' (height and width) or 'spacetime'")
    if not isinstance(model, nn.Module):
        raise ConversionError(f"convert() needs an nn.Module, got {type(model).__name__}")
    if output not in ("map", "input-size"):
        raise ValueError(f"unknown output {output!r}; choose 'map' (the full output map) or 'input-size'")
    if output == "input-size" and border.extent == "valid":
        raise ValueError("output='input-size' needs a border that keeps the input's positions; valid drops them")
    if downsample not in DOWNSAMPLES:
        raise ValueError(f"unknown downsample {downsample!r}; choose one of: {', '.join(DOWNSAMPLES)}")
    if downsample != "strided" and border.extent != "full":
        raise ValueError(f"downsample={downsample!r} needs a full border (full or full-exact), not {border.name!r}: "
                         f"the phases of other borders do not move with the content")
    if downsample != "strided" and blurpool:
        raise ValueError("blurpool=True chooses a fixed phase; for a blur before polyphase selection use "
                         "downsample='blur-polyphase' without blurpool")
    if downsample != "strided" and dims == "spatial":
        raise ValueError(f"downsample={downsample!r} needs dims='spacetime': with zero-padded time the frames' "
                         f"backgrounds differ")
    background = _check_background(background)
    if example_input is not None and not isinstance(example_input, torch.Tensor):
        raise ValueError(f"example_input must be a tensor (B, C, *S); got {type(example_input).__name__}")
    converted = _convert_copy(model, border, background, dims, blurpool or downsample == "blur-polyphase", blur_size,
                              paper_stem_pool, output, share_tensors=inplace, example_input=example_input,
                              polyphase=downsample != "strided")
    if not inplace:
        return converted
    # the copy shares model's parameters and buffers: swapping its state in completes the conversion
    model.__dict__.clear()
    model.__dict__.update(converted.__dict__)
    model.__class__ = type(converted)
    return model


def _check_background(background) -> torch.Tensor:
    try:
        values = torch.as_tensor(background, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"background must be a number or one number per input channel; got {background!r}") from None
    if values.numel() == 0:
        raise ValueError("background is empty; give one number or one per input channel")
    return values


def _convert_copy(model: nn.Module, border: Border, background: torch.Tensor, dims: str | None, blurpool: bool,
                  blur_size: int, paper_stem_pool: bool, output: str, share_tensors: bool,
                  example_input: torch.Tensor | None = None, polyphase: bool = False) -> nn.Module:
    """Convert a deep copy of ``model`` (sharing its parameters and buffers if ``share_tensors``),
    in the passes of the module docstring."""
    memo = {id(t): t for t in _tensors(model)} if share_tensors else {}
    work = copy.deepcopy(model, memo)
    # branches on shapes are taken as the original model takes them on the example (a copy runs it:
    # the converted layers' maps are not aligned yet, and the caller's model is never run)
    reference = copy.deepcopy(model) if example_input is not None else None
    if paper_stem_pool:
        _replace_stem_pool(work)
        if reference is not None:
            _replace_stem_pool(reference)
    swaps = _swap_layers(work, border, dims, blurpool, blur_size)
    if not swaps:
        raise ConversionError(
            f"convert(): {type(model).__name__} has no nn.Conv1d/2d/3d or pooling layer to convert; "
            f"build the model from torch.nn convolution modules")
    if border.extent == "same":
        return work  # map sizes and grids are unchanged: nothing to align
    graph = _trace(work, example_input, reference)
    pools = _modularize_pools(work, graph, border, swaps)
    edits = _GridPass(work, graph, border, background, dims, swaps, output, polyphase).run()
    _rewrite(graph, edits)
    if pools or edits:
        _use_graph_forward(work, graph)
    return work


def _tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    for module in model.modules():
        yield from (t for t in module._parameters.values() if t is not None)
        yield from (t for t in module._buffers.values() if t is not None)


class _Snapshot:
    """Every parameter and buffer of a model, to undo what running its forward changed."""

    def __init__(self, model: nn.Module) -> None:
        self.slots = [(table, name, tensor, tensor.detach().clone())
                      for module in model.modules()
                      for table in (module._parameters, module._buffers)
                      for name, tensor in table.items() if tensor is not None]

    def restore(self) -> None:
        with torch.no_grad():
            for table, name, tensor, saved in self.slots:
                table[name] = tensor  # a forward that re-assigned the attribute gets the original back
                tensor.copy_(saved)


def _use_graph_forward(model: nn.Module, graph: fx.Graph) -> None:
    """Give ``model`` the forward generated from ``graph``, keeping its class, attributes and layers.

    The model becomes an instance of a subclass of its own class (``isinstance`` still holds, and
    its submodules keep their own forwards); only the top-level forward aligns branches.
    """
    graph.lint()
    _, (body, import_block) = fx.GraphModule(model, graph).__reduce__()
    model.__class__ = _converted_class(type(model), import_block + body["_code"])


_CONVERTED_CLASSES: dict[tuple[type, str], type] = {}


def _converted_class(base: type, source: str) -> type:
    """The subclass of ``base`` whose forward is ``source`` (one class per base and source)."""
    key = (base, source)
    if key not in _CONVERTED_CLASSES:
        filename = f"<fullconv forward of {base.__module__}.{base.__qualname__} #{len(_CONVERTED_CLASSES)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        namespace: dict[str, Any] = {}
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - source generated by torch.fx
        _CONVERTED_CLASSES[key] = type(base.__name__, (base,), {
            "forward": namespace["forward"], "__module__": base.__module__, "__qualname__": base.__qualname__,
            "_fullconv_base": base, "_fullconv_source": source, "__reduce_ex__": _reduce_converted})
    return _CONVERTED_CLASSES[key]


def _reduce_converted(self, protocol):
    """Pickle (and deep-copy) a converted model by its base class and forward source."""
    return _rebuild_converted, (self._fullconv_base, self._fullconv_source), self.__dict__.copy()


def _rebuild_converted(base: type, source: str) -> nn.Module:
    """An empty instance of the converted class; pickle then restores its state."""
    cls = _converted_class(base, source)
    return cls.__new__(cls)


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
        return tuple(BORDERS["same" if padding == "same" else "valid"].pads(k, d) for k, d in zip(kernel, dilation))
    return tuple((p, p) for p in per_dim(padding, nd))


def layer_pads(border: Border, kernel: Sequence[int], dilation: Sequence[int], stride: Sequence[int],
               border_dims: Sequence[int], original: Sequence[tuple[int, int]]
               ) -> tuple[tuple[int, int], ...]:
    """Padding per spatial dim of a converted layer before it is placed on its grid.

    ``full`` variants pad ``d·(k-1)`` on both sides, ``valid`` nothing, ``same`` variants keep the
    layer's ``original`` amounts (in the border's mode); dims outside ``border_dims`` keep the
    ``original`` padding too. The grid pass of ``convert()`` then sets the left amounts of strided
    layers (see the module docstring).
    """
    if border.extent == "same":
        return tuple(tuple(pad) for pad in original)
    pads = []
    for dim, (k, d) in enumerate(zip(kernel, dilation)):
        if dim not in border_dims:
            pads.append(tuple(original[dim]))
        else:
            pads.append(border.pads(k, d))
    return tuple(pads)


#: Convolution subclasses whose own forward only pads (TensorFlow's "same", computed per input
#: size) before a plain convolution: the border replaces that padding, so they convert as convolutions.
_PADDING_ONLY_CONVS = frozenset({"timm.layers.conv2d_same.Conv2dSame"})
#: Weight-standardised convolutions (their forward standardises the weight, then pads as above):
#: they convert to :class:`~fullconv.layers.BorderStdConv2d`; True where the layer has a gain.
_STD_CONVS = {"timm.layers.std_conv.StdConv2d": False, "timm.layers.std_conv.StdConv2dSame": False,
              "timm.layers.std_conv.ScaledStdConv2d": True, "timm.layers.std_conv.ScaledStdConv2dSame": True}


#: Convolutions whose forward computes its padding from the input's size (TensorFlow's "same"):
#: their ``padding`` attribute is not what they pad, so ``same`` variants give them the symmetric
#: same amounts.
_SIZED_PADDING_CONVS = _PADDING_ONLY_CONVS | {name for name in _STD_CONVS if name.endswith("Same")}


def _class_name(layer: nn.Module) -> str:
    return f"{type(layer).__module__}.{type(layer).__qualname__}"


def _check_plain_conv(name: str, layer: nn.Module, nd: int) -> None:
    """Refuse a convolution subclass whose forward computes more than the convolution, unless it
    is one whose computation the border layer keeps (``_PADDING_ONLY_CONVS``, ``_STD_CONVS``)."""
    cls, base = type(layer), next(b for b, n in _CONVS.items() if n == nd)
    if cls is base or _class_name(layer) in _PADDING_ONLY_CONVS or _class_name(layer) in _STD_CONVS:
        return
    if cls.forward is not base.forward or cls._conv_forward is not base._conv_forward:
        raise ConversionError(
            f"convert(): layer {name!r} is a {cls.__qualname__} ({cls.__module__}), an nn.Conv{nd}d subclass with "
            f"its own forward; a border layer would drop what that forward adds, so it is not converted. "
            f"Build the model with plain nn.Conv{nd}d layers")


def _convert_conv(layer: nn.Module, nd: int, border: Border, dims: str | None) -> tuple[nn.Module, tuple[int, ...]]:
    kernel, stride, dilation = layer.kernel_size, layer.stride, layer.dilation
    border_dims = _border_dims(nd, dims)
    original = _original_pads(layer, nd, kernel, dilation)
    # what the layer pads: for TF-"same" convolutions not their padding attribute (0), which stays
    # their origin on the grid
    padded = tuple(BORDERS["same"].pads(k, d) for k, d in zip(kernel, dilation)) \
        if _class_name(layer) in _SIZED_PADDING_CONVS else original
    pads = layer_pads(border, kernel, dilation, stride, border_dims, padded)
    kwargs = dict(stride=stride, dilation=dilation, groups=layer.groups, bias=layer.bias is not None, border=border,
                  border_dims=border_dims, pads=pads, device=layer.weight.device, dtype=layer.weight.dtype)
    if (scaled := _STD_CONVS.get(_class_name(layer))) is not None:
        new = BorderStdConv2d(layer.in_channels, layer.out_channels, kernel, eps=layer.eps, gain=scaled,
                              scale=layer.scale if scaled else 1.0, **kwargs)
        if scaled:
            new.gain = layer.gain
    else:
        new = BORDER_CONV[nd](layer.in_channels, layer.out_channels, kernel, **kwargs)
    new.weight = layer.weight
    if layer.bias is not None:
        new.bias = layer.bias
    new.train(layer.training)
    return new, tuple(left for left, _ in original)


def _convert_conv_transpose(layer: nn.Module, nd: int, border: Border, dims: str | None
                            ) -> tuple[nn.Module, tuple[int, ...]]:
    if nd == 3 and dims == "spatial":
        raise ConversionError("convert(): dims='spatial' keeps the time padding, which a transposed 3-D convolution "
                              "cannot; use dims='spacetime'")
    if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
        raise ConversionError(f"convert(): transposed convolution with padding={layer.padding!r} and padding_mode="
                              f"{layer.padding_mode!r} is not supported; use integer zero padding")
    new = BORDER_CONV_TRANSPOSE[nd](layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                    dilation=layer.dilation, groups=layer.groups, bias=layer.bias is not None,
                                    border=border, device=layer.weight.device, dtype=layer.weight.dtype)
    new.weight = layer.weight
    if layer.bias is not None:
        new.bias = layer.bias
    new.train(layer.training)
    return new, per_dim(layer.padding, nd)


def _convert_pool(layer: nn.Module, kind: str, nd: int, border: Border, dims: str | None
                  ) -> tuple[nn.Module, tuple[int, ...]]:
    kernel = per_dim(layer.kernel_size, nd)
    stride = per_dim(layer.stride if layer.stride is not None else layer.kernel_size, nd)
    dilation = per_dim(getattr(layer, "dilation", 1), nd)
    border_dims = _border_dims(nd, dims)
    original = tuple((p, p) for p in per_dim(layer.padding, nd))
    pool = _border_pool(kind, nd, kernel, stride, dilation, border, border_dims, original)
    pool.train(layer.training)
    return pool, tuple(left for left, _ in original)


def _border_pool(kind: str, nd: int, kernel, stride, dilation, border: Border, border_dims: Sequence[int],
                 original: Sequence[tuple[int, int]]) -> BorderPool:
    pads = layer_pads(border, kernel, dilation, stride, border_dims, original)
    return BorderPool(kind, nd, kernel, stride, dilation, border=BORDERS["same"] if border.extent == "same" else border,
                      pads=pads, border_dims=border_dims)


def _kind(module: nn.Module, table: dict[type, int]) -> int:
    """Spatial dims of ``module`` if it is an instance of a class in ``table``, else 0."""
    return next((nd for cls, nd in table.items() if isinstance(module, cls)), 0)


@dataclass(frozen=True)
class _Swap:
    """A layer ``convert()`` put in: the left padding per spatial dim of the layer it replaces (its
    origin on the grid), and that layer (``None`` for a functional pool made a module)."""

    left: tuple[int, ...]
    original: nn.Module | None = None


#: per converted layer (by id), what it replaced
Swaps = dict[int, _Swap]


def _swap_layers(model: nn.Module, border: Border, dims: str | None, blurpool: bool, blur_size: int) -> Swaps:
    """Pass 1: replace every conv/pool child in place; returns what each new layer replaced."""
    swaps: Swaps = {}
    for prefix, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            new = None
            if isinstance(child, _CONVERTED):
                raise ConversionError(f"convert(): layer {name!r} is already converted ({child.border.name!r}); "
                                      f"convert the original model instead")
            # subclasses count too (torchvision's Conv3DSimple is an nn.Conv3d): the border decides the padding
            if (nd := _kind(child, _CONVS)):
                _check_plain_conv(f"{prefix}.{name}" if prefix else name, child, nd)
                new, left = _convert_conv(child, nd, border, dims)
            elif (nd := _kind(child, _CONV_TRANSPOSES)) and border.extent != "same":
                new, left = _convert_conv_transpose(child, nd, border, dims)
            elif (nd := _kind(child, _MAX_POOLS)) and (border.extent != "same" or blurpool):
                new, left = _convert_pool(child, "max", nd, border, dims)
            elif (nd := _kind(child, _AVG_POOLS)) and border.extent != "same":
                new, left = _convert_pool(child, "avg", nd, border, dims)
            elif _class_name(child) in _TIMM_WINDOWS and border.extent != "same":
                new, left = _TIMM_WINDOWS[_class_name(child)](child, border, dims)
            if new is not None:
                if blurpool and isinstance(new, (_BorderConvMixin, BorderPool)):
                    _attach_blur(new, blur_size)
                setattr(parent, name, new)
                swaps[id(new)] = _Swap(tuple(left), child)
    return swaps


def _convert_timm_blur(layer: nn.Module, border: Border, dims: str | None) -> tuple[nn.Module, tuple[int, ...]]:
    """timm's ``BlurPool2d`` (a functional convolution with the binomial filter, reflect-padded):
    :class:`~fullconv.layers.BlurPool`, the same filter padded by the border."""
    size, stride, left = layer.filt_size, per_dim(layer.stride, 2), per_dim(layer.padding[0], 2)
    pads = layer_pads(border, (size, size), (1, 1), stride, _border_dims(2, dims), tuple((p, p) for p in left))
    return BlurPool(stride, size, border, ndim=2, pads=pads), left


def _convert_timm_space_to_depth(layer: nn.Module, border: Border, dims: str | None
                                 ) -> tuple[nn.Module, tuple[int, ...]]:
    """timm's ``SpaceToDepth`` (views and a permute): :class:`~fullconv.layers.SpaceToDepth`, a
    block×block window of stride block padded by the border."""
    block = int(layer.bs)
    pads = layer_pads(border, (block, block), (1, 1), (block, block), _border_dims(2, dims), ((0, 0), (0, 0)))
    return SpaceToDepth(block, border, pads=pads), (0, 0)


#: timm layers without a torch.nn window inside that convert to fullconv window layers
_TIMM_WINDOWS = {"timm.layers.blur_pool.BlurPool2d": _convert_timm_blur,
                 "timm.layers.space_to_depth.SpaceToDepth": _convert_timm_space_to_depth}


def _attach_blur(layer: nn.Module, blur_size: int) -> None:
    """Make a strided conv/max-pool stride 1 and blur-and-subsample its output (Zhang 2019)."""
    stride = per_dim(layer.stride, len(layer.pads))
    if all(s == 1 for s in stride) or (isinstance(layer, BorderPool) and layer.kind == "avg"):
        return
    if len(stride) != 2:
        raise ValueError("blurpool=True supports 2-D models; leave it out for 1-D and 3-D networks")
    kernel, dilation = per_dim(layer.kernel_size, 2), per_dim(layer.dilation, 2)
    layer.stride = (1, 1)
    layer.pads = layer_pads(layer.border, kernel, dilation, (1, 1), layer.border_dims, layer.pads)
    blur_pads = None if layer.border.extent == "same" else \
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

def _is_torch_layer(module: nn.Module) -> bool:
    """Whether ``module`` is (a subclass of) a torch.nn layer such as BatchNorm2d, not a container."""
    return any(cls.__module__.startswith("torch.nn.modules.") and cls not in _CONTAINERS
               for cls in type(module).__mro__)


#: A traced node whose value on the example input is not known.
_UNKNOWN = object()


class _Tracer(fx.Tracer):
    """Keeps fullconv's layers and torch.nn's layers as leaves of the graph.

    Subclasses of torch.nn layers without a spatial layer inside (timm's ``BatchNormAct2d``) are
    leaves too: their forwards branch on ``self.training``, which a traced graph would freeze. So
    are the ``leaves`` given: blocks without a spatial layer that cannot be traced.
    """

    def __init__(self, leaves: Sequence[nn.Module] = (), example: torch.Tensor | None = None,
                 reference: nn.Module | None = None) -> None:
        super().__init__()
        self.leaves = {id(module) for module in leaves}
        #: with an example input, every node's value on it when ``reference`` (default: the traced
        #: model) runs it (``_UNKNOWN`` where it cannot be computed)
        self.example, self.reference, self.values = example, reference, {}
        self._evaluating = False  # while a node runs on the example: module calls run plainly, no nodes

    def call_module(self, m: nn.Module, forward, args, kwargs):
        if self._evaluating:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict):
        if self._evaluating:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        if self.example is not None:
            self.values[proxy.node] = self._value(proxy.node)
        return proxy

    def _value(self, node: fx.Node) -> Any:
        """``node``'s value on the example input, from the values of its inputs."""
        if node.op == "placeholder":  # the first is the input; later ones keep their defaults
            first = not any(n.op == "placeholder" for n in self.values)
            return self.example if first else (node.args[0] if node.args else _UNKNOWN)
        if any(self.values.get(n, _UNKNOWN) is _UNKNOWN for n in node.all_input_nodes):
            return _UNKNOWN
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda n: self.values[n])
        self._evaluating = True
        try:
            with torch.no_grad():
                if node.op == "call_function":
                    return node.target(*args, **kwargs)
                if node.op == "call_method":
                    return getattr(args[0], node.target)(*args[1:], **kwargs)
                runs = self.root if self.reference is None else self.reference
                if node.op == "call_module":
                    return runs.get_submodule(node.target)(*args, **kwargs)
                if node.op == "get_attr":
                    return operator.attrgetter(node.target)(runs)
        except Exception:  # an op the example cannot run: its value (and what depends on it) stays unknown
            return _UNKNOWN
        finally:
            self._evaluating = False
        return _UNKNOWN

    def to_bool(self, obj: fx.Proxy) -> bool:
        """A branch on a shape (a Python number or bool on the example input) goes as the example's
        does; a branch on a tensor value, or without an example, is refused as torch.fx refuses it."""
        value = self.values.get(obj.node, _UNKNOWN)
        if value is _UNKNOWN or isinstance(value, torch.Tensor):
            return super().to_bool(obj)
        return bool(value)

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if isinstance(module, _CONVERTED) or id(module) in self.leaves:
            return True
        if type(module).__module__.startswith("torchvision.ops.stochastic_depth"):
            return True
        if _is_torch_layer(module) and not any(isinstance(m, _SPATIAL_MODULES) for m in module.modules()):
            return True
        return super().is_leaf_module(module, qualified_name)


def _trace(model: nn.Module, example: torch.Tensor | None = None, reference: nn.Module | None = None) -> fx.Graph:
    """Trace ``model``; its parameters and buffers are left as they were before.

    With ``example`` (an input), branches on shapes follow ``reference`` (a model with the same
    module names, run on the example alongside; see :class:`_Tracer`).

    A block that fails to trace but holds no spatial layer becomes a leaf (a pointwise operation
    for the grids), and tracing starts again; a failure inside a block with spatial layers is a
    ConversionError naming the file, the line and the way out.
    """
    snapshot = _Snapshot(model)
    leaves: list[nn.Module] = []
    try:
        while True:
            try:
                return _Tracer(leaves, example, reference).trace(model)
            except Exception as error:  # fx raises many types; all mean "cannot trace"
                block = _failing_block(model, error)
                if block is None or block is model or any(isinstance(m, _SPATIAL_MODULES) for m in block.modules()):
                    raise ConversionError(
                        f"convert(): torch.fx cannot trace {type(model).__name__} at {_user_frame(error)}: "
                        f"{str(error).splitlines()[0] if str(error) else type(error).__name__}; make that operation "
                        f"traceable (no Python control flow on tensor values or shapes), pass example_input= for "
                        f"branches on shapes, or use a 'same' border"
                    ) from None
                leaves.append(block)
            finally:
                snapshot.restore()
    finally:
        snapshot.restore()


def _failing_block(model: nn.Module, error: BaseException) -> nn.Module | None:
    """The innermost submodule of ``model`` whose forward was running when ``error`` was raised."""
    members = {id(m) for m in model.modules()}
    found, tb = None, error.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if isinstance(candidate, nn.Module) and id(candidate) in members:
            found = candidate
        tb = tb.tb_next
    return found


def _user_frame(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if "/torch/" not in frame.filename and frame.filename != __file__:
            line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
            return f"{frame.filename}:{frame.lineno} ({line})"
    return "an unknown operation"


# --------------------------------------------------------------------------- pass 2: functional pools

def _modularize_pools(model: nn.Module, graph: fx.Graph, border: Border, swaps: Swaps) -> bool:
    """Turn every ``F.max_pool2d(x, ...)`` into a call of a BorderPool module added to ``model``."""
    count = 0
    for node in graph.nodes:
        if node.op != "call_function" or node.target not in _FUNCTIONAL_POOLS:
            continue
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
        original = tuple((p, p) for p in per_dim(bound.get("padding", 0), nd))
        pool = _border_pool(kind, nd, kernel, stride, dilation, border, tuple(range(nd)), original)
        name = f"fullconv_pool{count}"
        count += 1
        model.add_module(name, pool)
        swaps[id(pool)] = _Swap(tuple(left for left, _ in original))
        node.op, node.target = "call_module", name
        node.args, node.kwargs = (bound["input"],), {}
    return count > 0


# --------------------------------------------------------------------------- pass 3: grids

def _spatial_inputs(node: fx.Node, grids: dict[fx.Node, GridState]) -> list[fx.Node]:
    seen: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), lambda n: seen.append(n) if n not in seen else None)
    return [n for n in seen if isinstance(grids.get(n), (Grid, _NetworkInput))]


#: taps an interpolation reads right of its sample position's floor (with a non-zero weight)
_RIGHT_TAPS = {"linear": 1, "bilinear": 1, "trilinear": 1, "bicubic": 2, "area": 0}


def _kept_background(factors: Sequence[int], period_in: Sequence[int], period_out: Sequence[int], mode: str) -> int:
    """How many elements of :func:`~fullconv.layers.upsample.interpolate_on_background`'s left
    padding to keep, so that the upsampled map starts with ``period_out`` pure background outputs.

    Output ``j`` (align_corners=False) samples the input at ``(j + 1/2) / f - 1/2``; with ``e``
    background elements kept in front of the input's first ``P`` (pure background), it is pure
    background while every tap it weighs lies among those ``e + P``.
    """
    right = _RIGHT_TAPS.get(mode, 2)
    if right > 1 and any(p > 1 for p in period_in):
        raise ConversionError(f"convert(): {mode!r} interpolation of a map whose background repeats (period "
                              f"{tuple(period_in)}, after a strided transposed convolution) is not supported; use "
                              f"nearest or (bi/tri)linear upsampling there")

    def background_outputs(f: int, p: int, keep: int) -> int:
        j = 0
        while True:
            position = Fraction(2 * j + 1, 2 * f) - Fraction(1, 2)
            last = math.ceil(position) if right == 1 else math.floor(position) + right
            if last > keep + p - 1:
                return j
            j += 1

    # one kept element is enough for every mode (f·(P + 1/2) - 1/2 >= f·P linear outputs)
    return next(keep for keep in (0, 1) if all(background_outputs(f, p, keep) >= q
                                               for f, p, q in zip(factors, period_in, period_out)))


class _GridPass:
    """Pass 3: walks the graph once and places every window layer on its grid.

    Each layer sets its own padding (and, under ``full-exact``, its background and period) once,
    from its input's grid, and gives the grid of its output. The pass leaves the graph as it is:
    what must change there (alignment where branches meet, and the calls placement changes) it
    returns as edits for :func:`_rewrite`.
    """

    def __init__(self, model: nn.Module, graph: fx.Graph, border: Border, background: torch.Tensor,
                 dims: str | None, swaps: Swaps, output: str = "map", polyphase: bool = False) -> None:
        self.model, self.graph, self.output, self.polyphase = model, graph, output, polyphase
        self.border, self.background, self.dims, self.swaps = border, background, dims, swaps
        #: resolution levels (input stride, layer stride, earlier choices) whose phase choice is made
        self.levels: set[tuple] = set()
        self.edits: list[_Edit] = []
        self.grids: dict[fx.Node, GridState] = {}

    def run(self) -> list[_Edit]:
        """Place every layer; returns the graph's edits, in graph order."""
        for node in self.graph.nodes:
            self.grids[node] = self._visit(node)
        return self.edits

    def _visit(self, node: fx.Node) -> GridState:
        if node.op == "placeholder":
            return NETWORK_INPUT
        if node.op in ("get_attr", "output"):
            return None
        if node.op == "call_module":
            module = self.model.get_submodule(node.target)
            if isinstance(module, _WINDOWS):
                return self._window(node, module)
            if isinstance(module, nn.Linear) and (kept := self._linear(node)) is not None:
                return kept
            if isinstance(module, _GLOBAL_MODULES):
                return self._global(node, isinstance(module, nn.Flatten))
            if isinstance(module, nn.Upsample):
                return self._upsample(node, module.scale_factor, module.size, module.align_corners, module.mode)
            if isinstance(module, _BorderConvTransposeMixin):
                return self._transpose(node, module)
        if (node.op == "call_function" and node.target in _REDUCE_FUNCTIONS) or \
                (node.op == "call_method" and node.target in _REDUCE_METHODS):
            return self._reduction(node)
        if node.op == "call_function":
            if node.target in _FUNCTIONAL_CONVS:
                raise ConversionError(
                    f"convert(): functional convolution {node.name!r} ({node.target.__name__}) has no module to "
                    f"convert; build the model from nn.Conv modules")
            if node.target is F.linear and (kept := self._linear(node)) is not None:
                return kept
            if node.target in _GLOBAL_FUNCTIONS:
                return self._global(node, node.target in _LAYOUT_FUNCTIONS)
            if node.target in _INTERPOLATIONS:
                bound = dict(zip(("input", "size", "scale_factor", "mode", "align_corners"), node.args))
                bound.update(node.kwargs)
                return self._upsample(node, bound.get("scale_factor"), bound.get("size"), bound.get("align_corners"),
                                      bound.get("mode", "nearest"))
            if node.target is getattr:
                return None
            if node.target is F.pad:
                return self._explicit_pad(node)
        if (node.op == "call_method" and node.target in ("view", "reshape")) or \
                (node.op == "call_function" and node.target is torch.reshape):
            kept = self._reshape(node)
            if kept is not None:
                return kept
        if node.op == "call_method" and node.target in _GLOBAL_METHODS:
            return self._global(node, node.target in _LAYOUT_METHODS)
        if (node.op == "call_method" and node.target == "permute") or \
                (node.op == "call_function" and node.target is torch.permute):
            return self._permute(node)
        return self._pointwise(node)

    def _first_input(self, node: fx.Node) -> GridState:
        """The grid state of ``node``'s first argument."""
        return self.grids.get(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None

    def _lost_input(self, node: fx.Node) -> _Lost | None:
        """The first lost map among ``node``'s inputs."""
        return next((g for n in node.all_input_nodes if isinstance(g := self.grids.get(n), _Lost)), None)

    def _permute(self, node: fx.Node) -> GridState:
        """A permute moves the spatial dims (ConvNeXt's channels-last blocks: (B, C, H, W) to
        (B, H, W, C) and back): the grid keeps them by position (:attr:`Grid.axes`)."""
        grid = self._first_input(node)
        if not isinstance(grid, Grid):
            return self._pointwise(node)
        dims = node.kwargs.get("dims", node.args[1] if len(node.args) == 2 else node.args[1:])
        if grid.rank is None or not isinstance(dims, (tuple, list)) or len(dims) != grid.rank or \
                not all(isinstance(d, int) for d in dims):
            return _Lost(node.name, _describe(node))
        order = [d % grid.rank for d in dims]
        return _with_axes(grid, tuple(order.index(a) for a in _axes(grid)))

    def _linear(self, node: fx.Node) -> Grid | _Lost | None:
        """A linear layer over the last dim of a map whose spatial dims are elsewhere (channels-last)
        is pointwise in space: it keeps the grid; over tokens (a lost map) it keeps them lost.
        ``None`` for any other linear layer (global)."""
        grid = self._first_input(node)
        if isinstance(grid, Grid) and grid.axes and grid.rank - 1 not in grid.axes:
            return grid
        return grid if isinstance(grid, _Lost) else None

    def _refuse_moved(self, node: fx.Node, grid: GridState) -> None:
        """Window layers and interpolation work on trailing spatial dims (alignment too, unless
        every map has its spatial dims in the same place)."""
        if isinstance(grid, Grid) and grid.axes:
            raise ConversionError(
                f"convert(): {node.name!r} ({_describe(node)}) reads a map whose spatial dims were moved (by a permute or "
                f"reshape: they are dims {grid.axes} of its {grid.rank}); move them back to the last dims first")

    def _global(self, node: fx.Node, layout: bool) -> _Global:
        """``GLOBAL``; for an op that changes the ``layout`` of a map on a grid (or of a lost one),
        the :class:`_Lost` state naming the first such op."""
        if layout:
            lost = self._lost_input(node)
            if lost is not None:
                return lost
            if any(isinstance(self.grids.get(n), (Grid, _NetworkInput)) for n in node.all_input_nodes):
                return _Lost(node.name, _describe(node))
        return GLOBAL

    def _refuse_lost(self, node: fx.Node, module: nn.Module, grid: GridState) -> None:
        """A window layer on a lost map (:class:`_Lost`) is refused unless it is 1×1 without stride
        or padding, for which the border changes nothing."""
        if not isinstance(grid, _Lost):
            return
        if isinstance(module, GridWindow) and getattr(module, "blur", None) is None \
                and all(k == 1 for k in module.window()[0]) and all(s == 1 for s in module.window()[2]) \
                and not any(self.swaps[id(module)].left):
            return
        raise ConversionError(
            f"convert(): layer {node.target!r} reads a map whose layout {grid.op!r} ({grid.node!r}) changed in a way "
            f"convert() cannot follow (a space-to-depth, a flattened attention map), so it has no sampling grid to be "
            f"placed on; keep each spatial dim as the map's own size (x.shape[d]) in that reshape, or use a 'same' "
            f"border")

    def _reshape(self, node: fx.Node) -> Grid | None:
        """A reshape that keeps the spatial dims, each given as the map's own size (ResNeSt's split
        attention views (B, radix·C, H, W) as (B, radix, C, H, W)), keeps the grid: only the
        leading dims change. A reshape of tokens (a map flattened for attention) back into a
        map's own sizes (``x.reshape(B, H, W, C)`` with ``B, C, H, W = x.shape``) puts them on that
        map's grid, with the spatial dims where those sizes are. ``None`` for any other reshape
        (pooled features: global; a layout the grids cannot follow: lost)."""
        grid = self._first_input(node)
        shape = node.args[1] if len(node.args) == 2 and isinstance(node.args[1], (tuple, list)) else node.args[1:]
        shape = node.kwargs.get("shape", shape)
        if not isinstance(shape, (tuple, list)):
            return None
        sizes = {k: size for k, entry in enumerate(shape) if (size := self._own_size(entry)) is not None}
        if isinstance(grid, Grid):
            nd = len(grid.lead)
            if grid.rank is None or grid.axes or len(shape) < nd + 1:
                return None
            if all(k in sizes and sizes[k][1] == k - len(shape) + nd for k in range(len(shape) - nd, len(shape))):
                return replace(grid, rank=len(shape))
            return None
        if not isinstance(grid, _Lost) or len({source for source, _ in sizes.values()}) != 1:
            return None
        source = next(iter(sizes.values()))[0]
        target = self.grids[source]
        positions = {d: k for k, (_, d) in sizes.items()}
        if sorted(positions) != list(range(len(target.lead))) or len(positions) != len(sizes):
            return None
        return _with_axes(replace(target, rank=len(shape), axes=()), tuple(positions[d] for d in sorted(positions)))

    def _own_size(self, entry) -> tuple[fx.Node, int] | None:
        """``(t, d)`` where ``entry`` is ``t.shape[i]`` / ``t.size(i)`` / ``t.size()[i]`` of a map
        ``t`` on a grid (spatial dims last) and ``i`` is its spatial dim ``d``; else ``None``."""
        if not isinstance(entry, fx.Node):
            return None
        if entry.op == "call_method" and entry.target == "size" and len(entry.args) == 2:
            tensor, index = entry.args                                   # t.size(i)
        elif entry.op == "call_function" and entry.target is operator.getitem:
            sizes, index = entry.args                                    # t.shape[i] / t.size()[i]
            if not isinstance(sizes, fx.Node) or not (
                    (sizes.op == "call_function" and sizes.target is getattr and sizes.args[1:] == ("shape",))
                    or (sizes.op == "call_method" and sizes.target == "size" and len(sizes.args) == 1)):
                return None
            tensor = sizes.args[0]
        else:
            return None
        grid = self.grids.get(tensor) if isinstance(tensor, fx.Node) else None
        if not (isinstance(grid, Grid) and grid.rank is not None and not grid.axes and isinstance(index, int)):
            return None
        d = index % grid.rank - (grid.rank - len(grid.lead))
        return (tensor, d) if 0 <= d < len(grid.lead) else None

    def _explicit_pad(self, node: fx.Node):
        """A model's own zero padding of a map (``F.pad``): the original pads its map as the
        converted one pads its own, so the grid is kept; ``full-exact`` fills with the map's
        background (a zero line in the canvas would be a border the content can see).

        Amounts the forward computes (``x.shape[-1] % 2``, to pad a map to an even size) are
        computed again on the converted map: on the right they only add background, on the left
        they would move the map by an amount the grid cannot know, which ``full-exact`` refuses.
        """
        grid = self._first_input(node)
        bound = dict(zip(("input", "pad", "mode", "value"), node.args))
        bound.update(node.kwargs)
        pad = bound.get("pad")
        if (isinstance(grid, Grid) and not grid.axes and self.border.exact and bound.get("mode", "constant") == "constant"
                and not bound.get("value") and isinstance(pad, (tuple, list))
                and all(isinstance(p, (int, fx.Node)) for p in pad) and len(pad) // 2 <= len(grid.lead)):
            if any(isinstance(p, fx.Node) for p in pad[::2]):
                raise ConversionError(
                    f"convert(): F.pad {node.name!r} pads the left of a map by an amount its forward computes, "
                    f"which moves the map's grid on a converted map by an amount convert() cannot know; pad a "
                    f"constant on the left (computed amounts on the right are fine)")
            self.edits.append(_Retarget(node, pad_with_background, (node.args[0], tuple(pad), len(grid.lead))
                                        + ((grid.period,) if grid.periodic else ())))
        return self._pointwise(node)

    # ------------------------------------------------------------------ window layers

    def _window(self, node: fx.Node, module: nn.Module):
        source = node.args[0] if node.args else None
        grid = self.grids.get(source) if isinstance(source, fx.Node) else None
        nd = len(module.window()[0])
        margin = 0
        if isinstance(grid, _NetworkInput):
            grid = _input_grid(nd)
            if self.border.exact:
                self._set_input_background(node, module)
                margin = 1
        original = self.swaps[id(module)].original
        self._refuse_lost(node, module, grid)
        self._refuse_moved(node, grid)
        if isinstance(grid, _Global) and original is not None:
            # a window over an axis that is not spatial (ECA's 1-D convolution across the channels
            # of pooled features): no border there, so the original layer goes back in its place
            parent, _, name = node.target.rpartition(".")
            setattr(self.model.get_submodule(parent), name, original)
            return grid
        if not isinstance(grid, Grid):
            return grid
        if len(grid.lead) != nd:
            raise ConversionError(f"convert(): layer {node.target!r} is {nd}-D but its input has {len(grid.lead)} "
                                  f"spatial dims; cannot track its sampling grid")
        blur = getattr(module, "blur", None)
        window = module if blur is None else blur  # the layer that subsamples
        phased = self.polyphase and any(s > 1 for s in window.window()[2])
        grid_in = grid
        try:
            grid = module.place(grid, self.swaps[id(module)].left, margin, phased and blur is None)
            if blur is not None:
                # the blur stands where the strided layer stood: its same padding keeps the original positions
                grid = blur.place(grid, tuple(BORDERS["same"].pads(blur.size if s > 1 else 1)[0] for s in blur.stride),
                                  0, phased)
        except ValueError as error:
            raise ConversionError(f"convert(): layer {node.target!r} {error}") from None
        if phased:
            grid = self._choose_phase(node, source, grid_in, grid, window.window()[2])
        return grid

    def _choose_phase(self, node: fx.Node, source: fx.Node, grid_in: Grid, grid: Grid, stride) -> Grid:
        """Pass the phase of the resolution level to a strided layer (``downsample="polyphase"``).

        The first strided layer of a level (same input stride, same stride, same earlier choices)
        chooses it on its input; the later ones (a ResNet block's shortcut, or a later block at
        the same level) keep the same original indices. The choice is a function of a map that
        moves with the content, so it moves with the content too.
        """
        key = (grid_in.stride, tuple(stride), grid_in.phase)
        choice = None
        if key not in self.levels:
            self.levels.add(key)
            if isinstance(self.grids.get(source), _NetworkInput):
                values = self.background if self.border.exact else torch.zeros(1)
                background = values.item() if values.numel() == 1 else tuple(values.tolist())
            else:
                background = None if self.border.exact else 0.0
            offset = tuple(lead % s for lead, s in zip(grid_in.lead, stride))
            choice = (source, tuple(stride), offset, background)
        self.edits.append(_Phase(node, key, choice))
        return replace(grid, phase=grid_in.phase + (key,))

    def _transpose(self, node: fx.Node, module: nn.Module) -> GridState:
        """Place a transposed convolution (:meth:`~fullconv.layers.conv._BorderConvTransposeMixin.place`);
        the one that sees the network input pads it with ``background``, and one more step."""
        grid, nd = self.grids.get(node.args[0]), module._nd
        margin = 0
        if isinstance(grid, _NetworkInput):
            grid = _input_grid(nd)
            if self.border.exact:
                module.background = self._input_background(node, module.in_channels, nd)
                margin = 1
        self._refuse_lost(node, module, grid)
        self._refuse_moved(node, grid)
        if not isinstance(grid, Grid):
            return grid
        self._refuse_phased_upsampling(node, grid)
        try:
            return module.place(grid, self.swaps[id(module)].left, margin)
        except ValueError as error:
            raise ConversionError(f"convert(): transposed convolution {node.target!r} {error}") from None

    def _input_background(self, node: fx.Node, channels: int, nd: int | None = None):
        """``background`` for the layer that sees the network input, checked against its channels:
        a number, or a per-channel tensor (flat, or shaped (1, C, 1, ...) when ``nd`` is given)."""
        values = self.background
        if values.numel() not in (1, channels):
            raise ValueError(
                f"background has {values.numel()} values but the first convolution {node.target!r} takes "
                f"{channels} input channels; give one number or {channels}")
        if values.numel() == 1:
            return values.item()
        values = values.to(torch.float32)
        return values if nd is None else values.reshape((1, channels) + (1,) * nd)

    def _set_input_background(self, node: fx.Node, module: nn.Module) -> None:
        """The first full-exact layer pads the input with ``background`` (and, through the margin of
        its ``place``, one extra step on the left, so that its first output is pure background and
        later layers can read the background from there)."""
        if isinstance(module, _BorderConvMixin):
            module.set_background(self._input_background(node, module.in_channels))
        elif isinstance(module, SpaceToDepth):
            values = self.background.to(torch.float32)
            module.background = values.item() if values.numel() == 1 else values.reshape(1, -1, 1, 1)
        elif self.background.numel() != 1:
            raise ConversionError("a pooling layer that sees the input needs one background number, not one per channel")
        else:
            module.background = self.background.item()

    # ------------------------------------------------------------------ resampling

    def _upsample(self, node: fx.Node, scale_factor, size, align_corners, mode: str):
        """Grid of an interpolation by an integer scale factor: ``lead`` and density scale with it.

        An interpolation to the size of another map (``size=y.shape[-2:]``) becomes one by the
        ratio of the strides, since the converted maps' sizes are no longer in that ratio; a map
        without spatial layout interpolated to a map's size is a constant on that map's grid.
        """
        inputs = _spatial_inputs(node, self.grids)
        grid = self.grids[inputs[0]] if inputs and inputs[0] is node.args[0] else None
        target = _size_source(size)
        if target is not None:
            target_grid = self.grids.get(target)
            if isinstance(target_grid, _NetworkInput):
                target_grid = _input_grid(len(grid.lead)) if isinstance(grid, Grid) else NETWORK_INPUT
            if not isinstance(grid, Grid):
                return target_grid  # a broadcast of pooled features (DeepLab's image pooling)
            if isinstance(target_grid, Grid) and len(target_grid.stride) == len(grid.stride):
                if any(t % u for t, u in zip(grid.stride, target_grid.stride)):
                    raise ConversionError(
                        f"convert(): interpolation {node.name!r} resizes a map of stride {grid.stride} to one of "
                        f"stride {target_grid.stride}; only integer ratios keep the correspondence")
                scale_factor = tuple(t // u for t, u in zip(grid.stride, target_grid.stride))
                self._resize_by(node, scale_factor)
                size = None
                if self.output == "input-size" and isinstance(self.grids.get(target), _NetworkInput):
                    return self._crop_to_input(node, target, grid, scale_factor, mode, align_corners)
        if not isinstance(grid, Grid):
            return grid
        self._refuse_moved(node, grid)
        if size is not None or scale_factor is None:
            raise ConversionError(
                f"convert(): interpolation {node.name!r} resizes to a fixed size, which breaks the correspondence of "
                f"a {self.border.name!r} map; resize by an integer scale_factor instead")
        if align_corners:
            raise ConversionError(
                f"convert(): interpolation {node.name!r} uses align_corners=True, whose sampling depends on the map "
                f"size; use align_corners=False")
        nd = len(grid.lead)
        factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * nd
        if any(float(f) != int(f) or int(f) < 1 or t % int(f) for f, t in zip(factors, grid.stride)):
            raise ConversionError(
                f"convert(): interpolation {node.name!r} scales by {factors}, which is not an integer dividing the "
                f"map's stride {grid.stride}; use integer scale factors")
        factors = tuple(int(f) for f in factors)
        self._refuse_phased_upsampling(node, grid)
        # a background of period P > 1 repeats every f·P elements after it (one value stays one value)
        period = period_field(tuple(f * p if p > 1 else 1 for f, p in zip(factors, grid.periods())))
        keep = 0
        if self.border.exact and mode not in ("nearest", "nearest-exact"):
            # interpolation mixes neighbours: beyond the map's end the canvas holds background
            keep = _kept_background(factors, grid.periods(), period or (1,) * nd, mode)
            self.edits.append(_Retarget(node, interpolate_on_background, (node.args[0], factors, mode)
                                        + ((grid.period, keep) if grid.periodic or keep else ())))
        return Grid(tuple((lead + keep) * f for lead, f in zip(grid.lead, factors)),
                    tuple(t // f for t, f in zip(grid.stride, factors)), grid.rank, grid.phase, period)

    @staticmethod
    def _refuse_phased_upsampling(node: fx.Node, grid: Grid) -> None:
        if grid.phase:
            raise ConversionError(
                f"convert(): {node.name!r} upsamples a map subsampled with downsample='polyphase', whose phase "
                f"differs per sample; polyphase supports networks without upsampling (classifiers), use "
                f"downsample='strided' here")

    def _crop_to_input(self, node: fx.Node, network_input: fx.Node, grid: Grid, scale_factor, mode, align_corners):
        """Crop the upsampled map to the network input's positions (``output="input-size"``)."""
        upsampled = self._upsample(node, scale_factor, None, align_corners, mode)
        self.edits.append(_Crop(node, upsampled.lead, network_input))
        return _input_grid(len(grid.lead))  # what the node's users read, once cropped

    def _resize_by(self, node: fx.Node, scale_factor: tuple[int, ...]) -> None:
        """Rewrite ``F.interpolate(x, size=...)`` into ``F.interpolate(x, scale_factor=...)``."""
        bound = dict(zip(("input", "size", "scale_factor", "mode", "align_corners"), node.args))
        bound.update(node.kwargs)
        bound["size"], bound["scale_factor"] = None, tuple(float(f) for f in scale_factor)
        self.edits.append(_Retarget(node, node.target, (bound.pop("input"),), bound))

    # ------------------------------------------------------------------ pointwise ops and merges

    def _reduction(self, node: fx.Node):
        grid = self.grids.get(node.args[0]) if node.args else None
        dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        keepdim = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
        if not isinstance(grid, Grid) or grid.rank is None or dims is None or isinstance(dims, fx.Node):
            return GLOBAL
        dims = [d % grid.rank for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
        axes = _axes(grid)
        if any(d in axes for d in dims):
            return GLOBAL
        if keepdim:
            return grid
        return _with_axes(replace(grid, rank=grid.rank - len(dims)), tuple(a - sum(d < a for d in dims) for a in axes))

    def _pointwise(self, node: fx.Node):
        inputs = _spatial_inputs(node, self.grids)
        if not inputs:
            lost = self._lost_input(node)
            return lost if lost is not None else GLOBAL if self._all_global(node) else None
        grids = [self.grids[n] for n in inputs]
        if all(isinstance(g, _NetworkInput) for g in grids):
            return NETWORK_INPUT
        nd = len(next(g for g in grids if isinstance(g, Grid)).lead)
        grids = [_input_grid(nd) if isinstance(g, _NetworkInput) else g for g in grids]
        if len(inputs) == 1:
            return grids[0]
        # maps with equal leads can still differ in length (one branch reaches further right)
        return self._merge(node, inputs, grids)

    def _all_global(self, node: fx.Node) -> bool:
        found: list[Any] = []
        fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(self.grids.get(n)))
        return bool(found) and all(isinstance(g, _Global) for g in found)

    def _merge(self, node: fx.Node, inputs: list[fx.Node], grids: list[Grid]) -> Grid:
        """Align the inputs of ``node`` index by index, as the original model combined them."""
        axes = grids[0].axes
        if any(g.axes != axes for g in grids) or (axes and node.target is torch.stack):
            self._refuse_moved(node, next(g for g in grids if g.axes))
        nd = len(grids[0].lead)
        if any(len(g.lead) != nd or g.stride != grids[0].stride for g in grids):
            raise ConversionError(
                f"convert(): cannot align the inputs of {node.name!r} ({_describe(node)}): their strides differ "
                f"({', '.join(str(g.stride) for g in grids)})")
        if any(g.phase != grids[0].phase for g in grids):
            raise ConversionError(
                f"convert(): cannot align the inputs of {node.name!r} ({_describe(node)}): they were subsampled with "
                f"different polyphase choices, so their offset differs per sample; use downsample='strided'")
        latest = tuple(max(g.lead[d] for g in grids) for d in range(nd))
        periodic = self.border.exact and any(g.periodic for g in grids)
        period = tuple(math.lcm(*(g.periods()[d] for g in grids)) for d in range(nd)) if periodic else ()
        if periodic:
            # the merged background repeats with the least common period; every map keeps at least
            # its own period of background in front, so all get as many more as that needs
            extra = tuple(max(0, max(period[d] - g.periods()[d] - (latest[d] - g.lead[d]) for g in grids))
                          for d in range(nd))
            latest = tuple(lead + e for lead, e in zip(latest, extra))
        offsets = tuple(tuple(latest[d] - g.lead[d] for d in range(nd)) for g in grids)
        pick = min if self.border.extent == "valid" else max  # valid keeps the common indices, the others all of them
        ranks = {g.rank for g in grids}
        rank = ranks.pop() if len(ranks) == 1 else None
        if rank is not None and node.target is torch.stack:
            rank += 1
        lead = latest if periodic else tuple(pick(g.lead[d] for g in grids) for d in range(nd))
        merged = Grid(lead, grids[0].stride, rank, grids[0].phase, period_field(period), axes)
        border_ndim = 2 if (nd == 3 and self.dims == "spatial") else nd
        args = (offsets, self.border.align_fill, border_ndim) + ((tuple(g.periods() for g in grids),) if periodic else ())
        if axes:
            args = args[:3] + (args[3] if periodic else None, axes)
        self.edits.append(_Align(node, tuple(inputs), args))
        return merged


def _size_source(size) -> fx.Node | None:
    """The map whose spatial size ``size`` is (``y.shape[-2:]``, ``y.size()[2:]``, ``(y.shape[2], ...)``)."""
    def source(node):
        if not isinstance(node, fx.Node):
            return None
        if node.op == "call_function" and node.target is operator.getitem:
            return source(node.args[0])
        if node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
            return node.args[0]
        if node.op == "call_method" and node.target == "size":
            return node.args[0]
        return None

    if isinstance(size, (tuple, list)):
        found = {source(item) for item in size}
        return found.pop() if len(found) == 1 else None
    return source(size)


def _describe(node: fx.Node) -> str:
    target = node.target
    return getattr(target, "__name__", str(target))


# --------------------------------------------------------------------------- pass 4: rewrite

@dataclass(frozen=True)
class _Align:
    """Where branches meet: the inputs of ``node`` become ``align(inputs, *args)``'s outputs."""

    node: fx.Node
    inputs: tuple[fx.Node, ...]
    args: tuple


@dataclass(frozen=True)
class _Retarget:
    """``node`` calls ``target(*args, **kwargs)`` instead: a model's own ``F.pad`` filled with the
    background, an interpolation by a scale factor, an interpolation on the background."""

    node: fx.Node
    target: Any
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Phase:
    """``downsample="polyphase"``: the strided layer ``node`` takes its resolution level's phase
    choice as second argument; the level's first layer (``choice`` given) makes it,
    ``choose_phase(*choice)``."""

    node: fx.Node
    level: tuple
    choice: tuple | None


@dataclass(frozen=True)
class _Crop:
    """``output="input-size"``: the users of ``node`` read it cropped to the network input's
    positions (its element ``lead`` is the input's first)."""

    node: fx.Node
    lead: tuple[int, ...]
    network_input: fx.Node


_Edit = _Align | _Retarget | _Phase | _Crop


def _rewrite(graph: fx.Graph, edits: Sequence[_Edit]) -> None:
    """Apply the grid pass's edits to ``graph``, in graph order: the pass's only change to it."""
    choices: dict[tuple, fx.Node] = {}
    moved: dict[fx.Node, fx.Node] = {}  # a node whose users read another one now (its crop)

    def current(value):
        return fx.node.map_arg(value, lambda n: moved.get(n, n))

    for edit in edits:
        node = edit.node
        if isinstance(edit, _Align):
            inputs = current(edit.inputs)
            with graph.inserting_before(node):
                aligned = graph.call_function(align, (inputs,) + edit.args)
                for i, source in enumerate(inputs):
                    node.replace_input_with(source, graph.call_function(operator.getitem, (aligned, i)))
        elif isinstance(edit, _Retarget):
            node.op, node.target = "call_function", edit.target
            node.args, node.kwargs = current(edit.args), current(edit.kwargs)
        elif isinstance(edit, _Phase):
            if edit.level not in choices:
                with graph.inserting_before(node):
                    choices[edit.level] = graph.call_function(choose_phase, current(edit.choice))
            node.args = (node.args[0], choices[edit.level])
        else:
            with graph.inserting_after(node):
                cropped = graph.call_function(crop_to, (node, edit.lead, edit.network_input))
            node.replace_all_uses_with(cropped, delete_user_cb=lambda user: user is not cropped)
            moved[node] = cropped
