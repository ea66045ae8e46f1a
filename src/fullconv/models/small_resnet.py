"""A narrow ResNet with torchvision's blocks and layout, sized for CPU experiments.

It has the attribute names of ``torchvision.models.ResNet`` (conv1, bn1, relu, maxpool,
layer1..layer4, avgpool, fc), so ``convert()`` treats it exactly like resnet18.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, conv1x1

from .heads import with_head
from .registry import register


class SmallResNet(nn.Module):
    """ResNet with BasicBlocks, ``layers`` blocks per stage and ``width·2^i`` channels.

    Args:
        layers: blocks per stage (one stage per entry); stage i > 0 has stride 2.
        width: channels of the first stage.
        in_channels: image channels.
        num_classes: outputs of the linear head.
        stem_stride: stride of the 3×3 stem convolution (no max pool when 1).

    Shape:
        - Input: (B, in_channels, H, W)
        - Output: (B, num_classes)
    """

    def __init__(self, layers: Sequence[int] = (1, 1, 1, 1), width: int = 16, in_channels: int = 1,
                 num_classes: int = 10, stem_stride: int = 1) -> None:
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=stem_stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem_stride > 1 else nn.Identity()
        stages = []
        for i, blocks in enumerate(layers):
            stages.append(self._make_layer(width * 2 ** i, blocks, stride=1 if i == 0 else 2))
        self.layers = len(stages)
        for i, stage in enumerate(stages):
            setattr(self, f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.inplanes, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        modules = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        modules += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> feature map (B, width·2^(L-1), H', W')."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.layers):
            x = getattr(self, f"layer{i + 1}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


@register(aliases=("small-resnet",))
def small_resnet(layers: Sequence[int] = (1, 1, 1, 1), width: int = 16, in_channels: int = 1,
                 num_classes: int = 10, stem_stride: int = 1, head: str = "gap") -> SmallResNet:
    """A :class:`SmallResNet` with classifier head ``head`` (``"gap"`` or ``"bnneck"``, :mod:`fullconv.models.heads`).

    Shape:
        - Input: (B, in_channels, H, W)
        - Output: (B, num_classes)
    """
    return with_head(SmallResNet(layers, width, in_channels, num_classes, stem_stride), head)


@register("resnet18-w{width}")
def resnet18_narrow(width: int, num_classes: int = 1000, in_channels: int = 3, head: str = "gap") -> SmallResNet:
    """ResNet-18's stages and strides (BasicBlocks [2, 2, 2, 2], stride-2 stem and max pool, total stride 32) at
    ``width`` channels in the first stage, small enough to train on a CPU.

    Shape:
        - Input: (B, in_channels, H, W)
        - Output: (B, num_classes)
    """
    return small_resnet((2, 2, 2, 2), width, in_channels, num_classes, stem_stride=2, head=head)
