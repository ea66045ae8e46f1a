"""BagNet (Brendel & Bethge, ICLR 2019): a ResNet-50 whose receptive field is capped at 9, 17 or 33 px.

The layout and the parameter names follow the authors' published PyTorch code
(``bagnets/pytorchnet.py`` of wielandbrendel/bag-of-local-features-models), so their state_dict
files load with :func:`bagnet33` ``(weights=PATH)``:

- a stem of a 1×1 ``conv1`` and a 3×3 ``conv2`` (no padding), ``bn1``, ``relu``;
- ``layer1..layer4`` of Bottleneck blocks (``conv1/bn1/conv2/bn2/conv3/bn3/downsample``) with
  [3, 4, 6, 3] blocks and strides [2, 2, 2, 1]; the middle convolution of a block is 3×3 for the
  first ``kernel3[i]`` blocks of stage i and 1×1 otherwise; no convolution pads (border ``valid``);
- ``avgpool`` (global average pooling) and ``fc``.

BagNet-33 (``kernel3 = [1, 1, 1, 1]``) has a receptive field of 33 px and a total stride of 8.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.fx
import torch.nn as nn
from torch import Tensor

from .registry import register

#: kernel3 of each published BagNet, by receptive field.
KERNEL3: dict[int, tuple[int, int, int, int]] = {9: (1, 1, 0, 0), 17: (1, 1, 1, 0), 33: (1, 1, 1, 1)}


def crop_like(residual: Tensor, out: Tensor) -> Tensor:
    """Crop ``residual`` (B, C, H, W) at its bottom and right to the size of ``out`` (B, C, h, w).

    The 3×3 convolutions of a BagNet do not pad, so a block's main branch is smaller than its
    shortcut; the authors keep the shortcut's top-left part, and so do we, or their weights would
    see misaligned features.
    """
    return residual[:, :, : out.shape[-2], : out.shape[-1]]


# Leaf for torch.fx: the crop depends on run-time sizes, which symbolic tracing cannot follow.
torch.fx.wrap("crop_like")


class Bottleneck(nn.Module):
    """ResNet bottleneck (1×1, k×k, 1×1; expansion 4) whose k×k convolution does not pad.

    Shape:
        - Input: (B, inplanes, H, W)
        - Output: (B, 4·planes, (H - k) // stride + 1, (W - k) // stride + 1)
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 kernel_size: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=kernel_size, stride=stride, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + crop_like(residual, out))


class BagNet(nn.Module):
    """BagNet with the authors' layout; see the module docstring.

    Args:
        layers: Bottleneck blocks per stage.
        strides: stride of each stage's first block.
        kernel3: how many blocks of each stage have a 3×3 middle convolution.
        num_classes: outputs of ``fc``.

    Shape:
        - Input: (B, 3, H, W) with H, W >= the receptive field
        - Output: (B, num_classes)
    """

    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3), strides: Sequence[int] = (2, 2, 2, 1),
                 kernel3: Sequence[int] = KERNEL3[33], num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=1, stride=1, padding=0, bias=False)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=0.001)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(64, layers[0], strides[0], kernel3[0])
        self.layer2 = self._make_layer(128, layers[1], strides[1], kernel3[1])
        self.layer3 = self._make_layer(256, layers[2], strides[2], kernel3[2])
        self.layer4 = self._make_layer(512, layers[3], strides[3], kernel3[3])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, (2.0 / fan_out) ** 0.5)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int, kernel3: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        modules = []
        for i in range(blocks):
            kernel = 3 if i < kernel3 else 1
            if i == 0:
                modules.append(Bottleneck(self.inplanes, planes, stride, downsample, kernel_size=kernel))
                self.inplanes = planes * Bottleneck.expansion
            else:
                modules.append(Bottleneck(self.inplanes, planes, kernel_size=kernel))
        return nn.Sequential(*modules)

    def features(self, x: Tensor) -> Tensor:
        """x: (B, 3, H, W) -> (B, 2048, H', W'), one 2048-vector per 33×33 patch (stride 8)."""
        x = self.relu(self.bn1(self.conv2(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def state_dict_mismatch(own: dict[str, Tensor], state: dict[str, Tensor]) -> str | None:
    """What keeps ``state`` from loading into a model whose state_dict is ``own`` (None when it fits)."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(key for key in set(own) & set(state) if own[key].shape != state[key].shape)
    if not (missing or unexpected or wrong_shape):
        return None

    def first(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (" ..." if len(keys) > 3 else "")

    return (f"{len(missing)} missing keys ({first(missing)}), {len(unexpected)} unexpected keys "
            f"({first(unexpected)}), {len(wrong_shape)} with another shape ({first(wrong_shape)})")


def load_state_dict_file(model: nn.Module, weights: str | Path) -> nn.Module:
    """Load a state_dict saved with ``torch.save`` into ``model``; raise a clear error if it does not fit.

    Accepts a bare state_dict or a checkpoint dict holding it under ``state_dict`` (as the authors'
    ``.pth.tar`` files may), with or without DataParallel's ``module.`` prefix.
    """
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found; pass the path of a saved state_dict")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state_dict; save model.state_dict()")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    mismatch = state_dict_mismatch(model.state_dict(), state)
    if mismatch:
        raise ValueError(f"{path} does not match {type(model).__name__}: {mismatch}; "
                         f"use a state_dict of the same architecture and num_classes")
    model.load_state_dict(state)
    return model


@register()
def bagnet33(num_classes: int = 1000, weights: str | Path | None = None) -> BagNet:
    """BagNet-33; ``weights``: a state_dict file (e.g. the authors' ``bagnet32-2ddd53ed.pth.tar``)."""
    model = BagNet(kernel3=KERNEL3[33], num_classes=num_classes)
    return model if weights is None else load_state_dict_file(model, weights)
