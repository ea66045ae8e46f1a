"""3D ResNets for video in torchvision's ``VideoResNet`` layout (stem, layer1..layer4, avgpool, fc).

Depth 18 at full width is torchvision's ``r3d_18``; depths 10, 34 and 50 and narrow widths are built
from the same blocks (``BasicBlock``/``Bottleneck``) with 3×3×3 convolutions that are plain
``nn.Conv3d`` modules (``Conv3DSimple`` without the subclass), so ``convert()`` finds every layer.

Two stems (``stem=``):

- ``"torchvision"``: ``BasicStem``, a 3×7×7 convolution with stride (1, 2, 2), no pooling.
- ``"hara"``: the 3-D ResNet of Hara et al. (2018) that Kayhan & van Gemert (2020) trained on
  UCF-101/HMDB-51: a 7×7×7 convolution with stride (1, 2, 2) and padding 3, then a 3×3×3 max pool
  with stride 2 and padding 1. With the stages' 1×1×1-convolution shortcuts (type "B"), every
  stage striding 2 in time, height and width, this is their network.

``stem_time_stride=2`` makes the stem convolution stride 2 in time too, as the paper's
spatio-temporal F-Conv network did.
"""
from __future__ import annotations

from typing import Sequence

import torch.nn as nn
from torchvision.models.video import r3d_18
from torchvision.models.video.resnet import BasicBlock, Bottleneck, Conv3DSimple, VideoResNet

from .heads import check_head, with_head
from .registry import register

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


STEMS = ("torchvision", "hara")
LINEAR_INITS = ("small", "default")


class Stem3d(nn.Sequential):
    """The stem: torchvision's ``BasicStem`` or Hara et al.'s (module docstring), any input channels and width.

    Shape:
        - ``"torchvision"``: (B, in_channels, T, H, W) -> (B, width, T / s, H/2, W/2), s = ``time_stride``.
        - ``"hara"``: (B, in_channels, T, H, W) -> (B, width, T / 2s, H/4, W/4) (convolution, then max pool).
    """

    def __init__(self, in_channels: int = 3, width: int = 64, stem: str = "torchvision", time_stride: int = 1) -> None:
        if stem not in STEMS:
            raise ValueError(f"unknown 3D ResNet stem {stem!r}; choose one of: {', '.join(STEMS)}")
        if time_stride not in (1, 2):
            raise ValueError(f"stem time stride must be 1 or 2; got {time_stride}")
        kernel, padding = ((3, 7, 7), (1, 3, 3)) if stem == "torchvision" else ((7, 7, 7), (3, 3, 3))
        layers = [nn.Conv3d(in_channels, width, kernel_size=kernel, stride=(time_stride, 2, 2), padding=padding,
                            bias=False),
                  nn.BatchNorm3d(width),
                  nn.ReLU(inplace=True)]
        if stem == "hara":
            layers.append(nn.MaxPool3d(kernel_size=3, stride=2, padding=1))
        super().__init__(*layers)


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
        stem: ``"torchvision"`` or ``"hara"`` (module docstring).
        stem_time_stride: 2 makes the stem convolution stride 2 in time as well.
        linear_init: ``"small"`` (torchvision's N(0, 0.01) classifier) or ``"default"`` (PyTorch's
            ``nn.Linear`` initialisation, which Hara et al.'s code keeps).

    Shape:
        - Input: (B, in_channels, T, H, W)
        - Output: (B, num_classes)
    """

    def __init__(self, block: type[nn.Module], layers: Sequence[int], num_classes: int = 400,
                 width: int = 64, in_channels: int = 3, stem: str = "torchvision", stem_time_stride: int = 1,
                 linear_init: str = "small") -> None:
        if len(layers) != 4:
            raise ValueError(f"a 3D ResNet has four stages; got layers={tuple(layers)}")
        if linear_init not in LINEAR_INITS:
            raise ValueError(f"unknown linear_init {linear_init!r}; choose one of: {', '.join(LINEAR_INITS)}")
        nn.Module.__init__(self)  # VideoResNet.__init__ hard-codes the widths 64..512
        self.inplanes = width
        self.stem = Stem3d(in_channels, width, stem, stem_time_stride)
        for i, blocks in enumerate(layers):
            stage = self._make_layer(block, conv3x3x3, width * 2 ** i, blocks, stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        init_video_resnet(self, small_linear=linear_init == "small")


def init_video_resnet(model: nn.Module, small_linear: bool = True) -> None:
    """torchvision's ``VideoResNet`` initialisation (Kaiming convs, unit BatchNorm, small linear head).

    ``small_linear=False`` keeps the linear layers' PyTorch default initialisation.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm3d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear) and small_linear:
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


@register()
def resnet3d(depth: int, num_classes: int, width: int = 64, in_channels: int = 3, *, stem: str = "torchvision",
             stem_time_stride: int = 1, linear_init: str = "small", head: str = "gap") -> VideoResNet:
    """A 3D ResNet of ``depth`` (10, 18, 34 or 50) in torchvision's video layout, from scratch.

    ``resnet3d(18, K)`` is ``torchvision.models.video.r3d_18(num_classes=K)``;
    ``resnet3d(18, K, stem="hara", linear_init="default")`` is the paper's 3-D ResNet-18. ``head``:
    ``"gap"`` or ``"bnneck"`` (:mod:`fullconv.models.heads`).

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
    check_head(head)
    if (depth, width, in_channels, stem, stem_time_stride, linear_init) == (18, 64, 3, "torchvision", 1, "small"):
        return with_head(r3d_18(weights=None, num_classes=num_classes), head)
    block, layers = DEPTHS[depth]
    return with_head(ResNet3d(block, layers, num_classes, width=width, in_channels=in_channels, stem=stem,
                              stem_time_stride=stem_time_stride, linear_init=linear_init), head)
