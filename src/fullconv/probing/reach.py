"""Border reach: which output positions of each spatial layer have a receptive field that reaches the padding.

Analytic, from the layers' geometry. Along one spatial dim a map of length ``n`` has a tainted
prefix of ``a`` and a tainted suffix of ``b`` elements (values that depend on some padding). A
window layer (kernel ``k``, dilation ``d``, stride ``s``, left padding ``p``) reads input indices
``i·s - p + j·d``; output ``i`` is tainted when its first index is below ``a`` (padding counts
as index < 0) or its last index is at or past ``n - b``. Both conditions are monotone in ``i``,
so the tainted outputs are again a prefix and a suffix. In 2-D a window is a product of two
intervals, so a position is tainted exactly when its row or its column is: the fraction is
``1 - (clean rows / rows) · (clean columns / columns)``.

The model is traced with ``torch.fx`` and run once on a zero input of the probe's size, so the
real map sizes (ceil mode, timm's dynamic ``same`` padding) are used, and branches that meet
(residual additions, concatenations, fullconv's ``align``) take the union of their inputs' taint.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from ..convert import ConversionError
from ..layers.align import align
from ..layers.conv import _BorderConvMixin
from ..layers.padding import per_dim
from ..layers.pool import BorderPool

_WINDOWS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
            nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, BorderPool)


@dataclass(frozen=True)
class Taint:
    """Per spatial dim: map length, tainted prefix and suffix, and the stride in input pixels."""

    length: tuple[int, ...]
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    stride: tuple[int, ...]

    def clean(self, dim: int) -> int:
        return max(0, self.length[dim] - self.prefix[dim] - self.suffix[dim])

    @property
    def fraction(self) -> float:
        """Fraction of positions that reach the padding."""
        clean = math.prod(self.clean(d) / self.length[d] for d in range(len(self.length)))
        return 1.0 - clean


@dataclass(frozen=True)
class LayerReach:
    """One spatial layer: its qualified name, type, output size, stride and reached fraction.

    ``prefix``/``suffix``: per spatial dim, how many leading/trailing rows (columns) reach the padding.
    """

    name: str
    kind: str
    size: tuple[int, ...]
    stride: tuple[int, ...]
    fraction: float
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_taint(taint: Taint, out_length: tuple[int, ...], kernel, dilation, stride, left) -> Taint:
    """Taint of a window layer's output (see the module docstring)."""
    prefix, suffix = [], []
    for n, a, b, m, k, d, s, p in zip(taint.length, taint.prefix, taint.suffix, out_length, kernel, dilation,
                                      stride, left):
        # first index i·s - p < a  <=>  i < (a + p) / s
        prefix.append(min(m, max(0, -(-(a + p) // s))))
        # last index i·s - p + (k-1)·d >= n - b  <=>  i >= (n - b + p - (k-1)·d) / s
        first_tainted = max(0, -(-(n - b + p - (k - 1) * d) // s))
        suffix.append(max(0, m - first_tainted))
    return Taint(tuple(out_length), tuple(prefix), tuple(suffix),
                 tuple(t * s for t, s in zip(taint.stride, stride)))


def _left_padding(module: nn.Module, nd: int, n: tuple[int, ...], m: tuple[int, ...], kernel, dilation,
                  stride) -> tuple[int, ...]:
    if isinstance(module, (_BorderConvMixin, BorderPool)):
        return tuple(p[0] for p in module.pads)
    padding = module.padding
    if isinstance(padding, str):
        return tuple(((k - 1) * d) // 2 if padding == "same" else 0 for k, d in zip(kernel, dilation))
    left = []
    for p, size, out, k, d, s in zip(per_dim(padding, nd), n, m, kernel, dilation, stride):
        if p == 0 and out != (size - (k - 1) * d - 1) // s + 1:
            # padding applied inside forward (timm's Conv2dSame / MaxPool2dSame): total split as pad_same does
            p = max((out - 1) * s + (k - 1) * d + 1 - size, 0) // 2
        left.append(p)
    return tuple(left)


def _geometry(module: nn.Module, nd: int):
    kernel = per_dim(module.kernel_size, nd)
    stride = per_dim(module.stride if module.stride is not None else module.kernel_size, nd)
    dilation = per_dim(getattr(module, "dilation", 1), nd)
    return kernel, dilation, stride


class _Tracer(fx.Tracer):
    def __init__(self) -> None:
        super().__init__(autowrap_functions=(align,))  # converted models call align(); keep it one node

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if isinstance(module, _WINDOWS) or type(module).__module__.startswith("torchvision.ops.stochastic_depth"):
            return True
        return super().is_leaf_module(module, qualified_name)


class _ReachInterpreter(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, nd: int) -> None:
        super().__init__(module)
        self.nd = nd
        self.taint: dict[fx.Node, Any] = {}
        self.layers: list[LayerReach] = []
        self.unknown: list[str] = []

    def run_node(self, node: fx.Node):
        value = super().run_node(node)
        self.taint[node] = self._taint(node, value)
        return value

    def _spatial(self, value) -> tuple[int, ...] | None:
        if isinstance(value, torch.Tensor) and value.dim() == self.nd + 2:
            return tuple(value.shape[2:])
        return None

    def _inputs(self, node: fx.Node) -> list[Taint]:
        found: list[Taint] = []
        fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(self.taint.get(n)))
        return [t for t in found if isinstance(t, Taint)]

    def _taint(self, node: fx.Node, value):
        if node.op == "placeholder":
            size = self._spatial(value)
            return Taint(size, (0,) * self.nd, (0,) * self.nd, (1,) * self.nd) if size else None
        inputs = self._inputs(node)
        if node.op == "call_module":
            module = self.module.get_submodule(node.target)
            if isinstance(module, _WINDOWS) and inputs and self._spatial(value):
                return self._window(node.target, module, inputs[0], self._spatial(value))
        if node.op == "call_function" and node.target is align:
            return self._align(node, value)
        if isinstance(value, tuple) and node.op == "call_function":
            return None
        if node.op == "call_function" and node.args and isinstance(node.args[0], fx.Node) and \
                isinstance(self.taint.get(node.args[0]), tuple):
            return self.taint[node.args[0]][node.args[1]]  # getitem of align's output
        size = self._spatial(value)
        if size is None or not inputs:
            return None
        same = [t for t in inputs if t.length == size]
        if same:
            return Taint(size, tuple(max(t.prefix[d] for t in same) for d in range(self.nd)),
                         tuple(max(t.suffix[d] for t in same) for d in range(self.nd)),
                         tuple(max(t.stride[d] for t in same) for d in range(self.nd)))
        if all(s == 1 for s in size):
            return None  # global pooling: no spatial layout left
        # an operation that changes the map size in a way this analysis does not know (interpolation, F.pad)
        self.unknown.append(str(node.target))
        touched = any(t.prefix[d] or t.suffix[d] for t in inputs for d in range(self.nd))
        full = size if touched else (0,) * self.nd
        return Taint(size, full, (0,) * self.nd, inputs[0].stride)

    def _window(self, name: str, module: nn.Module, taint: Taint, out: tuple[int, ...]) -> Taint:
        kernel, dilation, stride = _geometry(module, self.nd)
        left = _left_padding(module, self.nd, taint.length, out, kernel, dilation, stride)
        result = window_taint(taint, out, kernel, dilation, stride, left)
        if getattr(module, "blur", None) is not None:
            raise ConversionError("border reach: blur-pool layers are not supported; probe without blurpool")
        self.layers.append(LayerReach(name, type(module).__name__, out, result.stride, result.fraction,
                                      result.prefix, result.suffix))
        return result

    def _align(self, node: fx.Node, value):
        tensors, offsets = node.args[0], node.args[1]
        out = []
        for source, offset, aligned in zip(tensors, offsets, value):
            taint = self.taint.get(source)
            size = tuple(aligned.shape[2:])
            prefix = tuple(o + taint.prefix[d] for d, o in enumerate(offset))
            suffix = tuple(size[d] - o - taint.length[d] + taint.suffix[d] for d, o in enumerate(offset))
            out.append(Taint(size, prefix, suffix, taint.stride))
        return tuple(out)


@torch.no_grad()
def border_reach(model: nn.Module, input_size: tuple[int, ...], in_channels: int = 3) -> dict[str, Any]:
    """Fraction of output positions of every spatial layer whose receptive field reaches the padding.

    Args:
        model: a CNN that ``torch.fx`` can trace (original or converted by ``fullconv.convert``).
        input_size: spatial size of the network input, e.g. ``(H, W)``.
        in_channels: channels of the input.

    Returns:
        ``{"layers": [LayerReach...], "total_stride": int, "unknown_ops": [...]}``: layers in the
        order they run; ``total_stride`` the largest stride (input pixels per element) of a layer.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))
        >>> [round(layer.fraction, 3) for layer in border_reach(net, (8, 8), 1)["layers"]]
        [0.438, 0.75]
    """
    nd = len(input_size)
    try:
        graph = _Tracer().trace(model)
    except Exception as error:  # fx raises many types; all mean "cannot trace"
        raise ConversionError(f"border reach: torch.fx cannot trace {type(model).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    module = fx.GraphModule(model, graph)
    first = next((p for p in model.parameters()), None)
    x = torch.zeros((1, in_channels) + tuple(input_size), dtype=first.dtype if first is not None else torch.float32,
                    device=first.device if first is not None else "cpu")
    interpreter = _ReachInterpreter(module, nd)
    was_training = model.training
    model.eval()
    try:
        interpreter.run(x)
    finally:
        model.train(was_training)
    layers = interpreter.layers
    total = max((max(layer.stride) for layer in layers), default=1)
    return {"layers": layers, "total_stride": int(total), "unknown_ops": sorted(set(interpreter.unknown))}
