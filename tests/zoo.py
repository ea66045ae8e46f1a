"""The registry of models the tests run over: add an entry here and every zoo test covers it.

Each entry builds a randomly initialised model (no weights are downloaded) and says which
content to place on the canvas and the model's total stride. timm models need the ``timm``
extra; their tests skip where it is not installed (CI installs it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest
import torch
import torch.nn as nn


@dataclass(frozen=True)
class ZooModel:
    """A model of the registry.

    Attributes:
        name: test id, ``source/architecture``.
        build: returns a fresh model (random weights, seeded).
        input_shape: (B, C, *S) of the content the certificate places on its canvas.
        total_stride: the shift unit per spatial dim.
        needs: a module to import first (``"timm"``); the test skips without it.
        slow: heavier models (they still run in CI).
        convert_kwargs: extra arguments of ``convert()``.
        same_is_original: whether ``same`` computes the original model exactly. Not for models whose
            convolutions pad per input size (TensorFlow's "same", timm's ``Conv2dSame``): a border
            pads a fixed amount.
    """

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...] = (2, 3, 8, 8)
    total_stride: tuple[int, ...] = (32, 32)
    needs: str | None = None
    slow: bool = False
    convert_kwargs: dict = field(default_factory=dict)
    same_is_original: bool = True

    def create(self) -> nn.Module:
        if self.needs:
            pytest.importorskip(self.needs)
        torch.manual_seed(0)
        return redraw_constants(self.build())


@torch.no_grad()
def redraw_constants(model: nn.Module) -> nn.Module:
    """Redraw every parameter that initialisation set to a constant: shifts near 0, scales near 1.

    Trained networks have non-zero biases and BatchNorm shifts, which turn a zero background
    into a non-zero one (what makes zero padding visible). A fresh model keeps the background at
    exactly zero (zero biases) and timm zero-initialises the last BatchNorm scale of residual
    blocks, which makes those blocks identities: both would let ``same`` and ``full`` pass a check
    they fail on any trained model.
    """
    generator = torch.Generator().manual_seed(1)
    for name, parameter in model.named_parameters():
        if parameter.numel() > 1 and bool((parameter == parameter.flatten()[0]).all()):
            noise = torch.rand(parameter.shape, generator=generator, dtype=parameter.dtype)
            # shifts small enough that the content's responses (timm draws weights with std 0.02) still show
            parameter.copy_((noise - 0.5) / 10 if name.endswith("bias") else noise + 0.5)
    return model


def _torchvision(arch: str, **kwargs) -> Callable[[], nn.Module]:
    def build():
        import torchvision
        return getattr(torchvision.models, arch)(weights=None, num_classes=10, **kwargs)
    return build


def _video(arch: str) -> Callable[[], nn.Module]:
    def build():
        from torchvision.models import video
        return getattr(video, arch)(weights=None, num_classes=5)
    return build


def _timm(arch: str) -> Callable[[], nn.Module]:
    def build():
        import timm
        return timm.create_model(arch, pretrained=False, num_classes=10)
    return build


def _small_resnet() -> nn.Module:
    from fullconv.models import small_resnet
    return small_resnet(in_channels=3, width=8)


def _resnet3d() -> nn.Module:
    from fullconv.models import resnet3d
    return resnet3d(10, 5, width=8)


ZOO: dict[str, ZooModel] = {}


def register(model: ZooModel) -> ZooModel:
    if model.name in ZOO:
        raise ValueError(f"zoo model {model.name!r} is registered twice")
    ZOO[model.name] = model
    return model


for _arch, _slow in [("resnet18", False), ("resnet50", True), ("densenet121", True), ("mobilenet_v2", True),
                     ("mobilenet_v3_small", False), ("mobilenet_v3_large", True), ("efficientnet_b0", True),
                     ("regnet_y_400mf", True), ("regnet_x_400mf", True)]:
    register(ZooModel(f"torchvision/{_arch}", _torchvision(_arch), slow=_slow))
register(ZooModel("torchvision/r3d_18", _video("r3d_18"), input_shape=(2, 3, 2, 8, 8), total_stride=(8, 16, 16),
                  slow=True, convert_kwargs={"dims": "spacetime"}))
register(ZooModel("fullconv/small_resnet", _small_resnet, total_stride=(8, 8)))
register(ZooModel("fullconv/resnet3d10", _resnet3d, input_shape=(2, 3, 2, 8, 8), total_stride=(8, 16, 16),
                  convert_kwargs={"dims": "spacetime"}))

#: timm CNN families certified here (convert() + check_equivariance); one small member of each.
TIMM_FAMILIES: dict[str, str] = {}

for _family, _arch, _slow in [
    ("EfficientNet", "efficientnet_b0", True),
    ("EfficientNet (TF 'same' padding)", "tf_efficientnet_b0", True),
    ("MobileNetV2", "mobilenetv2_035", True),
    ("MobileNetV3", "mobilenetv3_small_050", False),
    ("MobileNetV4", "mobilenetv4_conv_small", True),
    ("MnasNet", "mnasnet_050", True),
    ("SPNASNet", "spnasnet_100", True),
    ("FBNet", "fbnetc_100", True),
    ("MixNet", "mixnet_s", True),
    ("HardCoRe-NAS", "hardcorenas_a", True),
    ("LCNet", "lcnet_035", False),
    ("TinyNet", "tinynet_e", False),
    ("RegNetX", "regnetx_002", False),
    ("RegNetY", "regnety_002", True),
    ("RegNetZ", "regnetz_005", True),
    ("ResNet", "resnet18", True),
    ("ResNet (bottleneck)", "resnet26", True),
    ("SE-ResNet", "seresnet18", True),
    ("SE-ResNet (legacy)", "legacy_seresnet18", True),
    ("ResNetV2 (pre-activation)", "resnetv2_18", True),
    ("CS3DarkNet", "cs3darknet_s", True),
    ("DarkNet", "darknet17", True),
    ("GhostNet", "ghostnet_050", True),
    ("RepGhostNet", "repghostnet_050", True),
    ("ReXNet", "rexnet_100", True),
    ("DPN", "dpn48b", True),
    ("RepVGG", "repvgg_a0", True),
    ("MobileOne", "mobileone_s0", True),
    ("GENet", "gernet_s", True),
    ("VoVNet", "ese_vovnet19b_dw", True),
    ("ResNet (deep tiered stem)", "resnet10t", True),
    ("CSPResNet", "cspresnet50", True),
    ("ResNetV2 (BiT, weight-standardised convolutions)", "resnetv2_50x1_bit", True),
    ("NF-ResNet (scaled weight standardisation)", "nf_resnet26", True),
    ("ECA-ResNet (1-D convolution across channels)", "ecaresnet26t", True),
    ("ResNeSt (split attention)", "resnest14d", True),
]:
    TIMM_FAMILIES[_family] = _arch
    register(ZooModel(f"timm/{_arch}", _timm(_arch), needs="timm", slow=_slow,
                      same_is_original=not _arch.startswith("tf_")))

# Larger content: 8 px would be smaller than what DLA-46-C's own forward needs.
for _family, _arch, _shape in [("DLA (compact)", "dla46_c", (2, 3, 32, 32))]:
    TIMM_FAMILIES[_family] = _arch
    register(ZooModel(f"timm/{_arch}", _timm(_arch), input_shape=_shape, needs="timm", slow=True))


# GhostNetV2's DFC attention pools its map by 2 before its gate, so its total stride is 64.
TIMM_FAMILIES["GhostNetV2"] = "ghostnetv2_100"
register(ZooModel("timm/ghostnetv2_100", _timm("ghostnetv2_100"), total_stride=(64, 64), needs="timm", slow=True))


def _tresnet() -> nn.Module:
    from timm.models.tresnet import TResNet
    return TResNet(layers=[1, 1, 1, 1], num_classes=10, width_factor=0.25)


# TResNet: a space-to-depth stem (views and a permute) and timm's BlurPool2d (a functional
# convolution), both converted to fullconv window layers. timm's smallest, tresnet_m (31 M
# parameters), is the same code at 14x the width and [3, 4, 11, 3] blocks: one block per stage at
# a quarter width here, built from timm's class.
TIMM_FAMILIES["TResNet (space-to-depth stem, BlurPool2d)"] = "TResNet(layers=[1, 1, 1, 1], width_factor=0.25)"
register(ZooModel("timm/tresnet-1111-w0.25", _tresnet, needs="timm"))
TIMM_FAMILIES["ResNet (BlurPool2d anti-aliasing)"] = "resnetblur18"
register(ZooModel("timm/resnetblur18", _timm("resnetblur18"), needs="timm", slow=True))


def _convnext_timm() -> nn.Module:
    from timm.models.convnext import ConvNeXt
    return ConvNeXt(depths=(1, 1, 1, 1), dims=(16, 32, 64, 128), conv_mlp=False, num_classes=10)


def _convnext_torchvision() -> nn.Module:
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 1), CNBlockConfig(64, 128, 1),
                     CNBlockConfig(128, None, 1)], num_classes=10)


# ConvNeXt with its MLP as linear layers on a channels-last map (timm's default, conv_mlp=False, and
# torchvision's convnext_*): the permutes move the spatial dims and the grid follows them. One
# block per stage at small widths, from each library's own class.
TIMM_FAMILIES["ConvNeXt (channels-last MLP)"] = "ConvNeXt(depths=(1, 1, 1, 1), dims=(16, ..., 128), conv_mlp=False)"
register(ZooModel("timm/convnext-1111-linear-mlp", _convnext_timm, needs="timm"))
register(ZooModel("torchvision/convnext-1111", _convnext_torchvision))


def zoo_params(predicate: Callable[[ZooModel], bool] = lambda model: True) -> list:
    """The registry as pytest parameters (``slow`` entries marked), for ``@pytest.mark.parametrize``."""
    return [pytest.param(m, id=m.name, marks=[pytest.mark.slow] if m.slow else [])
            for m in ZOO.values() if predicate(m)]
