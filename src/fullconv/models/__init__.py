"""Model zoo beyond torchvision: small nets of the experiments, BagNet, HardNet, 3D ResNets."""
from .small_resnet import SmallResNet, small_resnet

__all__ = ["SmallResNet", "small_resnet"]
