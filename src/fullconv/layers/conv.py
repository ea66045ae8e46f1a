"""Convolutions with a border variant: drop-in subclasses of ``nn.Conv1d/2d/3d``.

They keep the parameter names of the plain convolution, so a state_dict loads both ways.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .borders import BORDERS, Border, get_border
from .grid import Grid, GridWindow, period_field
from .padding import corner_background, crop, effective_kernel, pad_constant, pad_periodic
from .polyphase import border_strides, take_phase, window_at_phase

CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class _BorderConvMixin(GridWindow):
    """Shared forward of BorderConv1d/2d/3d; see :class:`BorderConv2d`."""

    _nd: int

    def _init_border(self, border: str | Border, border_dims: Sequence[int] | None,
                     pads: Sequence[tuple[int, int]] | None, background) -> None:
        self.border = get_border(border)
        n = self._nd
        self.border_dims = tuple(range(n)) if border_dims is None else tuple(sorted(border_dims))
        if self.border_dims != tuple(range(n - len(self.border_dims), n)):
            raise ValueError(
                f"border_dims {self.border_dims} must be the trailing spatial dims of a {n}-D conv "
                f"(e.g. (1, 2) for height and width of a 3-D conv)")
        if pads is None:
            pads = tuple((self.border if d in self.border_dims else BORDERS["same"]).pads(k, dil)
                         for d, (k, dil) in enumerate(zip(self.kernel_size, self.dilation)))
        self.pads = tuple((int(left), int(right)) for left, right in pads)
        if len(self.pads) != n:
            raise ValueError(f"pads needs one (left, right) pair per spatial dim ({n}); got {self.pads}")
        self.padding = (0,) * n  # the padding is applied explicitly
        self.set_background(background)
        #: ``full-exact``: the period per spatial dim of the input's background where it repeats
        #: (after a strided transposed convolution; :func:`~fullconv.layers.padding.pad_periodic`),
        #: ``None`` where it is one value. ``convert()`` sets it.
        self.background_period: tuple[int, ...] | None = None
        #: optional blur-and-subsample after the (then stride-1) convolution; holds no state_dict keys
        self.blur: nn.Module | None = None

    def set_background(self, background) -> None:
        """Fix the padded value of a ``full-exact`` layer that sees the network input.

        ``None`` (the default) reads the background from the input's first element along the
        padded dims. That element is pure background when the input comes from a ``full-exact``
        layer whose own input had a background first element, or from the first layer of a
        network converted by ``convert()``, which pads the network input with ``background`` and
        one extra step on the left for that reason. A layer used on its own on an image whose
        first pixel is content needs ``background`` (and that extra step in ``pads``).
        """
        if background is not None:
            value = torch.as_tensor(background, dtype=torch.float32).flatten()
            background = value.reshape((1, value.numel()) + (1,) * self._nd)
        if "fixed_background" in self._buffers:
            del self._buffers["fixed_background"]
        elif hasattr(self, "fixed_background"):
            delattr(self, "fixed_background")
        # a non-persistent buffer follows .to(device) and stays out of the state_dict
        self.register_buffer("fixed_background", background, persistent=False)

    def background_of(self, x: Tensor) -> Tensor:
        """Background of the input ``x`` (B, C, *S): (B or 1, C or 1, *S_other, 1, ...)."""
        if self.fixed_background is not None:
            return self.fixed_background.to(dtype=x.dtype)
        return corner_background(x, len(self.border_dims))

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return tuple(self.kernel_size), tuple(self.dilation), tuple(self.stride)

    def _split_pads(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        n_border = len(self.border_dims)
        other = tuple(self.pads[: self._nd - n_border]) + ((0, 0),) * n_border
        return tuple(self.pads[self._nd - n_border:]), other

    def extra_repr(self) -> str:  # pragma: no cover - repr only
        text = super().extra_repr().replace(", padding=" + str(self.padding), "")
        return f"{text}, border={self.border.name!r}, pads={self.pads}"

    def forward(self, x: Tensor, phase: Tensor | None = None) -> Tensor:
        """x: (B, C_in, *S) -> (B, C_out, *S') with S' from the border's padding and the stride.

        ``phase`` (B, d), from :func:`~fullconv.layers.polyphase.choose_phase`: each sample keeps
        the outputs ``s·j + phase`` of the stride-1 layer instead of ``s·j`` (only those are
        computed); with a blur attached, the blur keeps them.
        """
        if self.blur is not None:
            return self.blur(self._border_conv(x), phase)
        return self._border_conv(x, phase)

    def conv_weight(self) -> Tensor:
        """The weight the convolution applies: the parameter itself here; a subclass may compute
        it (:class:`BorderStdConv2d` standardises it)."""
        return self.weight

    def _border_conv(self, x: Tensor, phase: Tensor | None = None) -> Tensor:
        conv = CONV_FN[self._nd]
        weight = self.conv_weight()
        if phase is not None:
            return self._phase_conv(x, phase, weight)
        if not any(left or right for left, right in self.pads):
            return conv(x, weight, self.bias, self.stride, 0, self.dilation, self.groups)
        border_pads, other_pads = self._split_pads()
        if self.border.exact and self.background_period is not None and self.fixed_background is None:
            x = pad_periodic(x, border_pads, self.background_period[self._nd - len(border_pads):])
            return conv(pad_constant(x, other_pads, 0.0), weight, self.bias, self.stride, 0, self.dilation,
                        self.groups)
        symmetric = all(left == right >= 0 for left, right in self.pads)
        if self.border.fill == "zeros" and self.border.extent != "valid" and symmetric:
            return conv(x, weight, self.bias, self.stride, tuple(p[0] for p in self.pads),
                        self.dilation, self.groups)
        if self.border.exact and symmetric and len(self.border_dims) == self._nd:
            background = self.background_of(x)
            y = conv(x - background, weight, None, self.stride, tuple(p[0] for p in self.pads),
                     self.dilation, self.groups)
            return y + self._constant_response(background, weight)
        background = self.background_of(x) if self.border.exact else None
        x = self.border.pad(x, border_pads, background)
        x = pad_constant(x, other_pads, 0.0)
        if self.border.fill == "partial":
            y = conv(x, weight, None, self.stride, 0, self.dilation, self.groups)
            y = y * self._partial_ratio(x.shape[2:], y.device, y.dtype)
            return y if self.bias is None else y + self.bias.view((1, -1) + (1,) * self._nd)
        return conv(x, weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def _phase_conv(self, x: Tensor, phase: Tensor, weight: Tensor) -> Tensor:
        """The strided convolution at each sample's phase (:func:`~fullconv.layers.polyphase.window_at_phase`).

        A ``full-exact`` layer convolves ``x - background`` with zero padding and adds the
        background's response back, as at stride 1; dims outside ``border_dims`` with padding
        (zeros, not background) take the reference path: pad, move the phase to 0, convolve.
        """
        border_pads, other_pads = self._split_pads()
        background = self.background_of(x) if self.border.exact else None
        keep = border_strides(self.stride, self.border_dims)
        if self.border.fill in ("zeros", "background") and not (background is not None and any(
                left or right for left, right in other_pads)):
            reach = tuple(d * (k - 1) for d, k in zip(self.dilation, self.kernel_size))
            conv = CONV_FN[self._nd]
            bias = None if background is not None else self.bias
            y = window_at_phase(x if background is None else x - background, phase, keep, self.pads,
                                lambda z, padding: conv(z, weight, bias, self.stride, padding, self.dilation,
                                                        self.groups),
                                stride=self.stride, reach=reach)
            return y if background is None else y + self._constant_response(background, weight)
        x = pad_constant(self.border.pad(x, border_pads, background), other_pads, 0.0)
        x = take_phase(x, phase, keep, 0.0 if background is None else background)
        return CONV_FN[self._nd](x, weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def _constant_response(self, background: Tensor, weight: Tensor) -> Tensor:
        """Response of the layer to a map that is ``background`` everywhere: (B, C_out, 1, ...)."""
        summed = weight.sum(dim=tuple(range(2, 2 + self._nd)), keepdim=True)
        background = background.expand((background.shape[0], self.in_channels) + (1,) * self._nd)
        return CONV_FN[self._nd](background, summed, self.bias, 1, 0, 1, self.groups)

    def _partial_ratio(self, padded_size, device, dtype) -> Tensor:
        """window size / taps inside the image, for every output position: (1, 1, *S')."""
        key = (tuple(padded_size), device, dtype)
        cache = self.__dict__.setdefault("_ratio_cache", {})
        if key not in cache:
            border_pads, other_pads = self._split_pads()
            unpadded = [s - left - right for s, (left, right) in zip(padded_size, self.pads)]
            ones = torch.ones((1, 1, *unpadded), device=device, dtype=dtype)
            mask = pad_constant(pad_constant(ones, border_pads, 0.0), other_pads, 0.0)
            taps = torch.ones((1, 1, *self.kernel_size), device=device, dtype=dtype)
            inside = CONV_FN[self._nd](mask, taps, None, self.stride, 0, self.dilation)
            cache.clear()
            cache[key] = taps.numel() / inside.clamp(min=1.0)
        return cache[key]


def _make(base: type[nn.modules.conv._ConvNd], nd: int, doc: str):
    class BorderConv(_BorderConvMixin, base):
        _nd = nd

        def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, dilation=1,
                     groups: int = 1, bias: bool = True, border: str | Border = "same", *,
                     border_dims: Sequence[int] | None = None,
                     pads: Sequence[tuple[int, int]] | None = None, background=None,
                     device=None, dtype=None) -> None:
            base.__init__(self, in_channels, out_channels, kernel_size, stride=stride, padding=0,
                          dilation=dilation, groups=groups, bias=bias, device=device, dtype=dtype)
            self._init_border(border, border_dims, pads, background)

    BorderConv.__name__ = BorderConv.__qualname__ = f"BorderConv{nd}d"
    BorderConv.__doc__ = doc
    return BorderConv


BorderConv1d = _make(nn.Conv1d, 1, "``nn.Conv1d`` with a border variant. x: (B, C, L).")
BorderConv2d = _make(nn.Conv2d, 2, """``nn.Conv2d`` with a border variant.

    Args:
        border: a name from ``fullconv.BORDERS`` or a :class:`~fullconv.layers.Border`; kept as
            ``self.border``, a ``Border``.
        border_dims: spatial dims (0-based, trailing) the border applies to; the others are padded
            ``same`` with zeros. Default: all.
        pads: explicit ``(left, right)`` per spatial dim, overriding the border's default (a
            negative value crops). ``convert()`` uses it to keep strided grids aligned.
        background: for ``full-exact``, the padded value of the network input (number or one per
            channel); ``None`` reads it from the input's first element.

    Shape:
        - Input: (B, C_in, H, W)
        - Output: (B, C_out, H', W') with ``H' = floor((H + left + right - d·(k-1) - 1) / s) + 1``.

    Example:
        >>> conv = BorderConv2d(1, 1, 3, border="full")
        >>> conv(torch.zeros(1, 1, 8, 8)).shape
        torch.Size([1, 1, 10, 10])
    """)
BorderConv3d = _make(nn.Conv3d, 3, """``nn.Conv3d`` with a border variant; ``border_dims=(1, 2)``
    applies it to height and width only (time padded ``same`` with zeros). x: (B, C, T, H, W).""")

BORDER_CONV = {1: BorderConv1d, 2: BorderConv2d, 3: BorderConv3d}


class BorderStdConv2d(BorderConv2d):
    """:class:`BorderConv2d` with weight standardisation (Qiao et al. 2019; timm's ``StdConv2d``,
    and with ``gain`` its ``ScaledStdConv2d``, Brock et al. 2021).

    Each output channel's weight is standardised over its fan-in, ``(w - mean) / sqrt(var + eps)``
    (biased variance), and with a gain multiplied by ``gain · scale``, before every convolution;
    the padding is the border's. Parameter names are the timm layers' (``weight``, ``bias``,
    ``gain``), so their state_dicts load both ways.

    Args:
        eps: added to the variance.
        gain: register a per-output-channel ``gain`` (C_out, 1, 1, 1), initialised to 1.
        scale: a constant factor with the gain (timm: ``gamma / sqrt(fan-in)``).
        others: as :class:`BorderConv2d`.

    Example:
        >>> conv = BorderStdConv2d(2, 4, 3, border="full", bias=False)
        >>> w = conv.conv_weight().flatten(1)
        >>> bool(w.mean(1).abs().max() < 1e-6), bool((w.var(1, unbiased=False) - 1).abs().max() < 1e-4)
        (True, True)
        >>> conv(torch.zeros(1, 2, 8, 8)).shape
        torch.Size([1, 4, 10, 10])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, dilation=1, groups: int = 1,
                 bias: bool = True, border: str | Border = "same", *, eps: float = 1e-6, gain: bool = False,
                 scale: float = 1.0, **kwargs) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias, border, **kwargs)
        self.eps, self.scale = float(eps), float(scale)
        if gain:
            self.gain = nn.Parameter(torch.ones((out_channels, 1, 1, 1), device=self.weight.device,
                                                dtype=self.weight.dtype))
        else:
            self.register_parameter("gain", None)

    def conv_weight(self) -> Tensor:
        """The standardised weight (C_out, C_in / groups, kH, kW)."""
        scale = None if self.gain is None else (self.gain * self.scale).view(-1)
        return F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, weight=scale,
                            training=True, momentum=0.0, eps=self.eps).reshape_as(self.weight)


CONV_TRANSPOSE_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


class _BorderConvTransposeMixin:
    """Shared forward of BorderConvTranspose1d/2d/3d; see :class:`BorderConvTranspose2d`."""

    _nd: int

    def _init_border(self, border: str | Border, input_pads, crops, background) -> None:
        self.border = get_border(border)
        n = self._nd
        self.input_pads = tuple((int(l), int(r)) for l, r in (input_pads or ((0, 0),) * n))
        self.crops = tuple((int(l), int(r)) for l, r in (crops or ((0, 0),) * n))
        if len(self.input_pads) != n or len(self.crops) != n:
            raise ValueError(f"input_pads and crops need one (left, right) pair per spatial dim ({n})")
        self.padding, self.output_padding = (0,) * n, (0,) * n  # applied explicitly
        self.background = background
        #: ``full-exact``: the period per spatial dim of the input's background where it repeats
        #: (:func:`~fullconv.layers.padding.pad_periodic`); ``None``: one value. ``convert()`` sets it.
        self.background_period: tuple[int, ...] | None = None

    def extra_repr(self) -> str:  # pragma: no cover - repr only
        return f"{super().extra_repr()}, border={self.border.name!r}, input_pads={self.input_pads}, crops={self.crops}"

    def place(self, grid: Grid, origin: Sequence[int], margin: int = 0) -> Grid:
        """Pad the input and crop the output so that the outputs keep the original layer's
        positions, and return the output grid (see :meth:`GridWindow.place
        <fullconv.layers.grid.GridWindow.place>` for window layers).

        Original output ``o = s·i + d·t - p_o`` (input ``i``, tap ``t``, ``p_o`` the ``origin``);
        this layer pads ``q`` inputs on the left and crops ``c`` outputs, so
        ``lead_out = p_o + s·(lead_in + q) - c``. ``full`` takes ``q = c = 0`` (no padding is full
        for a transposed convolution), ``valid`` crops the ``d·(k-1)`` outputs with an incomplete
        set of inputs on each side, ``full-exact`` pads ``ceil(d·(k-1)/s) + margin`` background
        inputs and crops those same incomplete outputs, so that its first output is background again.

        On a background of period ``P`` (``P = 1``: one value) the output background repeats every
        ``s·P`` outputs, and its first ``s·q + s·P - d·(k-1) >= s·P`` outputs are pure background, as
        the next layer that pads with that pattern needs (:attr:`Grid.period`).

        Raises:
            ValueError: the stride does not divide the input map's stride.
        """
        exact = self.border.exact
        if exact and grid.periodic:
            self.background_period = grid.periods()
        pads, crops, lead, stride = [], [], [], []
        for s, k, d, p_o, lead_in, t in zip(self.stride, self.kernel_size, self.dilation, origin, grid.lead,
                                           grid.stride):
            extent = effective_kernel(k, d) - 1
            q = -(-extent // s) + margin if exact else 0
            c = 0 if self.border.extent == "full" and not exact else extent
            if t % s:
                raise ValueError(f"upsamples by {s} a map of stride {t}; the stride must divide the map's stride")
            pads.append((q, q))
            crops.append((c, c))
            lead.append(p_o + s * (lead_in + q) - c)
            stride.append(t // s)
        self.input_pads, self.crops = tuple(pads), tuple(crops)
        period = tuple(s * p for s, p in zip(self.stride, grid.periods())) if exact else ()
        return Grid(tuple(lead), tuple(stride), self._nd + 2, period=period_field(period))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, *S) -> (B, C_out, *S'), ``S' = s·(S + pads - 1) + d·(k-1) + 1 - crops``."""
        if self.border.exact and self.background is None and self.background_period is not None:
            x = pad_periodic(x, self.input_pads, self.background_period)
        else:
            if self.border.exact:
                value = corner_background(x, self._nd) if self.background is None else self.background
            else:
                value = 0.0
            x = pad_constant(x, self.input_pads, value)
        y = CONV_TRANSPOSE_FN[self._nd](x, self.weight, self.bias, self.stride, 0, 0, self.groups, self.dilation)
        return crop(y, tuple((-left, -right) for left, right in self.crops))


def _make_transpose(base: type[nn.modules.conv._ConvTransposeNd], nd: int, doc: str):
    class BorderConvTranspose(_BorderConvTransposeMixin, base):
        _nd = nd

        def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, dilation=1,
                     groups: int = 1, bias: bool = True, border: str | Border = "full", *,
                     input_pads: Sequence[tuple[int, int]] | None = None,
                     crops: Sequence[tuple[int, int]] | None = None, background=None,
                     device=None, dtype=None) -> None:
            base.__init__(self, in_channels, out_channels, kernel_size, stride=stride, padding=0,
                          output_padding=0, groups=groups, bias=bias, dilation=dilation, device=device,
                          dtype=dtype)
            self._init_border(border, input_pads, crops, background)

    BorderConvTranspose.__name__ = BorderConvTranspose.__qualname__ = f"BorderConvTranspose{nd}d"
    BorderConvTranspose.__doc__ = doc
    return BorderConvTranspose


BorderConvTranspose1d = _make_transpose(nn.ConvTranspose1d, 1, "``nn.ConvTranspose1d`` with a border variant.")
BorderConvTranspose2d = _make_transpose(nn.ConvTranspose2d, 2, """``nn.ConvTranspose2d`` with a border variant.

    A transposed convolution without padding is already full: every input reaches all its taps.
    ``input_pads`` pads the input first (``full-exact``: with its background, so that outputs near
    the edges receive a whole set of background inputs) and ``crops`` drops outputs afterwards
    (``full-exact``: the ones with an incomplete set of inputs; ``valid``: all with one).
    ``convert()`` sets both; parameter names are those of ``nn.ConvTranspose2d``.

    Shape:
        - Input: (B, C_in, H, W)
        - Output: (B, C_out, H', W') with ``H' = s·(H + q_l + q_r - 1) + d·(k-1) + 1 - c_l - c_r``.

    Example:
        >>> up = BorderConvTranspose2d(1, 1, 2, stride=2, border="full")
        >>> up(torch.zeros(1, 1, 4, 4)).shape
        torch.Size([1, 1, 8, 8])
    """)
BorderConvTranspose3d = _make_transpose(nn.ConvTranspose3d, 3, "``nn.ConvTranspose3d`` with a border variant.")

BORDER_CONV_TRANSPOSE = {1: BorderConvTranspose1d, 2: BorderConvTranspose2d, 3: BorderConvTranspose3d}
