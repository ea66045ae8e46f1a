"""3D ResNets for video in torchvision's ``VideoResNet`` layout (stem, layer1..layer4, avgpool, fc).

Depth 18 at full width is torchvision's ``r3d_18``; depths 10, 34 and 50 and narrow widths are built
from the same blocks (``BasicBlock``/``Bottleneck``) with 3×3×3 convolutions that are plain
``nn.Conv3d`` modules (``Conv3DSimple`` without the subclass), so ``convert()`` finds every layer.
"""
from __future__ import annotations

from typing import Sequence

import torch.nn as nn
from torchvision.models.video import r3d_18
from torchvision.models.video.resnet import BasicBlock, Bottleneck, Conv3DSimple, VideoResNet

#: Block type and blocks per stage of each depth (Hara et al. 2018, "Can spatiotemporal 3D CNNs
#: retrace the history of 2D CNNs and ImageNet?"); depth 10 is the small net of quick runs.
DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    10: (BasicBlock, (1, 1, 1, 1)),
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


def conv3x3x3(in_planes: int, out_planes: int, midplanes: int | None = None, stride: int = 1,
              padding: int = 1) -> nn.Conv3d:
    """torchvision's ``Conv3DSimple`` as a plain ``nn.Conv3d`` (same arguments, weights and keys)."""
    return nn.Conv3d(in_planes, out_planes, kernel_size=(3, 3, 3), stride=stride, padding=padding, bias=False)


conv3x3x3.get_downsample_stride = Conv3DSimple.get_downsample_stride  # what VideoResNet._make_layer asks


class Stem3d(nn.Sequential):
    """torchvision's ``BasicStem`` with a choice of input channels and width.

    Shape: (B, in_channels, T, H, W) -> (B, width, T, H/2, W/2).
    """

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__(
            nn.Conv3d(in_channels, width, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )


class ResNet3d(VideoResNet):
    """``VideoResNet`` with ``width·2^i`` channels in stage i and a choice of input channels.

    It keeps ``VideoResNet``'s attribute names, blocks, forward and initialisation; only the
    widths (fixed to 64..512 in torchvision) and the stem's input channels are free.

    Args:
        block: ``BasicBlock`` or ``Bottleneck`` from ``torchvision.models.video.resnet``.
        layers: blocks in each of the four stages; stages 2-4 have stride 2 in time and space.
        num_classes: outputs of the linear head.
        width: channels of the stem and of stage 1 (64 in torchvision).
        in_channels: channels of the clips.

    Shape:
        - Input: (B, in_channels, T, H, W)
        - Output: (B, num_classes)
    """

    def __init__(self, block: type[nn.Module], layers: Sequence[int], num_classes: int = 400,
                 width: int = 64, in_channels: int = 3) -> None:
        if len(layers) != 4:
            raise ValueError(f"a 3D ResNet has four stages; got layers={tuple(layers)}")
        nn.Module.__init__(self)  # VideoResNet.__init__ hard-codes the widths 64..512
        self.inplanes = width
        self.stem = Stem3d(in_channels, width)
        for i, blocks in enumerate(layers):
            stage = self._make_layer(block, conv3x3x3, width * 2 ** i, blocks, stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        init_video_resnet(self)


def init_video_resnet(model: nn.Module) -> None:
    """torchvision's ``VideoResNet`` initialisation (Kaiming convs, unit BatchNorm, small linear head)."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm3d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


def resnet3d(depth: int, num_classes: int, width: int = 64, in_channels: int = 3) -> VideoResNet:
    """A 3D ResNet of ``depth`` (10, 18, 34 or 50) in torchvision's video layout, from scratch.

    ``resnet3d(18, K)`` is ``torchvision.models.video.r3d_18(num_classes=K)``.

    Example:
        >>> import torch
        >>> model = resnet3d(10, 5, width=4, in_channels=1)
        >>> model(torch.zeros(2, 1, 8, 32, 32)).shape
        torch.Size([2, 5])
    """
    if depth not in DEPTHS:
        raise ValueError(f"unknown 3D ResNet depth {depth}; choose one of: {', '.join(map(str, DEPTHS))}")
    if width < 1 or in_channels < 1:
        raise ValueError(f"width and in_channels must be positive; got width={width}, in_channels={in_channels}")
    if depth == 18 and width == 64 and in_channels == 3:
        return r3d_18(weights=None, num_classes=num_classes)
    block, layers = DEPTHS[depth]
    return ResNet3d(block, layers, num_classes, width=width, in_channels=in_channels)
