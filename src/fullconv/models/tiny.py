"""The small nets of the paper's first experiments, and their member-stacked versions.

Both nets are a chain of bias-free border convolutions with ReLU, a global max pool and a linear
head (:class:`ConvMaxNet`):

* :func:`rook_net` — one 5×5 filter (the rook patch experiment);
* :func:`red_green_net` — four 3×3 convolutions 3→32 s1, 32→32 s2, 32→64 s2, 64→64 s2.

:class:`StackedConvMaxNet` holds ``M`` such nets (e.g. all seeds of one border) with the member
axis first in every parameter, so one optimiser step trains them all; each member computes
exactly what the separate net computes.

``full-exact``: these nets have no bias and ReLU, so a map that is background everywhere stays
0 in every layer. Layers after the first read the background from the map's first element,
which must therefore be pure background. The input is padded by one background pixel on the
top and left first; every full-exact layer then keeps a pure-background first element (its first
window covers only padding and that element). With background 0, ``full-exact`` computes what
``full`` computes, on a grid one pixel larger.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from ..layers import Border, BorderConv2d, background_frame, get_border
from .registry import register

#: Layers of the red-green net: (in_channels, out_channels, stride), all 3×3.
RED_GREEN_LAYERS: tuple[tuple[int, int, int], ...] = ((3, 32, 1), (32, 32, 2), (32, 64, 2), (64, 64, 2))


def pad_input_background(x: Tensor, background: float) -> Tensor:
    """Prepend one background row and column: x (..., H, W) -> (..., H+1, W+1)."""
    return background_frame(x, 1, background)


class ConvMaxNet(nn.Module):
    """Bias-free border convolutions, each followed by ReLU; global max pool; linear head.

    Args:
        layers: ``(in_channels, out_channels, stride)`` per convolution.
        kernel_size: size of every convolution.
        border: a name from ``fullconv.BORDERS``.
        num_classes: outputs of the linear head.
        background: the input's background value (the padded value of ``full-exact``).

    Shape:
        - Input: (B, C, H, W)
        - Output: (B, num_classes)
    """

    def __init__(self, layers: Sequence[tuple[int, int, int]], kernel_size: int, border: str | Border = "same",
                 num_classes: int = 2, background: float = 0.0) -> None:
        super().__init__()
        self.border = get_border(border)
        self.background = float(background)
        self.convs = nn.ModuleList(
            BorderConv2d(c_in, c_out, kernel_size, stride=stride, bias=False, border=border)
            for c_in, c_out, stride in layers)
        self.fc = nn.Linear(layers[-1][1], num_classes)

    def feature_maps(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> last ReLU map (B, C_last, H', W')."""
        if self.border.exact:
            x = pad_input_background(x, self.background)
        for conv in self.convs:
            x = F.relu(conv(x))
        return x

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> logits (B, num_classes)."""
        return self.fc(self.feature_maps(x).amax(dim=(-2, -1)))


@register()
def rook_net(border: str = "same") -> ConvMaxNet:
    """One 5×5 filter without bias, ReLU, global max pool, linear 1→2. x: (B, 1, H, W)."""
    return ConvMaxNet(((1, 1, 1),), kernel_size=5, border=border)


@register()
def red_green_net(border: str = "same") -> ConvMaxNet:
    """Four bias-free 3×3 convolutions (3→32 s1, 32→32 s2, 32→64 s2, 64→64 s2), ReLU each,
    global max pool, linear 64→2. x: (B, 3, H, W)."""
    return ConvMaxNet(RED_GREEN_LAYERS, kernel_size=3, border=border)


class StackedConvMaxNet(nn.Module):
    """``M`` :class:`ConvMaxNet` of one architecture, stacked along axis 0 of every parameter.

    Build it with :meth:`from_members` from separately initialised nets; :meth:`member` gives one
    back as a plain :class:`ConvMaxNet`.

    Args:
        members: the nets to stack (same architecture and border).
        channels_last: run each member's convolutions on channels-last maps (faster on CPU).

    Shape:
        - Input: (M, B, C, H, W)
        - Output: (M, B, num_classes)
    """

    def __init__(self, members: Sequence[ConvMaxNet], channels_last: bool = True) -> None:
        super().__init__()
        if not members:
            raise ValueError("StackedConvMaxNet needs at least one member net")
        first = members[0]
        self.border = first.border
        self.background = first.background
        self.channels_last = channels_last
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([m.convs[i].weight.detach() for m in members]).clone())
            for i in range(len(first.convs)))
        self.fc_weight = nn.Parameter(torch.stack([m.fc.weight.detach() for m in members]).clone())
        self.fc_bias = nn.Parameter(torch.stack([m.fc.bias.detach() for m in members]).clone())
        # A copy of one member serves as the operator whose weights are swapped per member; kept in
        # a tuple so that its own (unused) weights are not parameters of this module.
        self._template: tuple[ConvMaxNet] = (copy.deepcopy(first),)

    @classmethod
    def from_members(cls, members: Sequence[ConvMaxNet], channels_last: bool = True) -> "StackedConvMaxNet":
        """Stack ``members`` (copies of their weights)."""
        kinds = {(m.border.name, tuple(tuple(c.weight.shape) for c in m.convs)) for m in members}
        if len(kinds) != 1:
            raise ValueError(f"members must share border and architecture; got {sorted(kinds)}")
        return cls(members, channels_last=channels_last)

    @property
    def members(self) -> int:
        return self.fc_weight.shape[0]

    def member(self, index: int) -> ConvMaxNet:
        """Member ``index`` as a separate :class:`ConvMaxNet` (a copy)."""
        net = copy.deepcopy(self._template[0])
        with torch.no_grad():
            for conv, weight in zip(net.convs, self.weights):
                conv.weight.copy_(weight[index])
            net.fc.weight.copy_(self.fc_weight[index])
            net.fc.bias.copy_(self.fc_bias[index])
        return net

    def member_feature_maps(self, index: int, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> member ``index``'s last ReLU map (B, C_last, H', W')."""
        if self.border.exact:
            x = pad_input_background(x, self.background)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for conv, weight in zip(self._template[0].convs, self.weights):
            x = F.relu(functional_call(conv, {"weight": weight[index]}, (x,)))
        return x

    def forward(self, x: Tensor) -> Tensor:
        """x: (M, B, C, H, W) -> logits (M, B, num_classes); one member also takes (B, C, H, W) -> (B, num_classes).

        The single-member form is what the training loop passes when ``members == 1`` (it stacks
        nothing then), so one seed trains as it would in a stack of several.
        """
        if self.members == 1 and x.dim() == 4:
            return self(x.unsqueeze(0)).squeeze(0)
        if x.dim() != 5 or x.shape[0] != self.members:
            raise ValueError(f"expected input (M={self.members}, B, C, H, W); got shape {tuple(x.shape)}")
        pooled = torch.stack([self.member_feature_maps(m, x[m]).amax(dim=(-2, -1))
                              for m in range(self.members)])
        return torch.baddbmm(self.fc_bias.unsqueeze(1), pooled, self.fc_weight.transpose(1, 2))


def seeded_members(build: Callable[[], ConvMaxNet], seeds: Sequence[int]) -> list[ConvMaxNet]:
    """``build()`` once per seed, each under ``torch.manual_seed(seed)`` (as a separate run would)."""
    nets = []
    for seed in seeds:
        torch.manual_seed(seed)
        nets.append(build())
    return nets
