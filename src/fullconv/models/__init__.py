"""Model zoo beyond torchvision (small nets of the experiments, BagNet, HardNet, 3D ResNets) and the one
registry of models by name: ``create(name, **kwargs)`` for the zoo, torchvision and ``timm:NAME``."""
from .bagnet import BagNet, bagnet33
from .hardnet import HardNet
from .heads import HEADS, BNNeckLinear, with_head
from .registry import UnknownModelError, create, list_models, register, resolve
from .resnet3d import ResNet3d, resnet3d
from .small_resnet import SmallResNet, resnet18_narrow, small_resnet
from .tiny import ConvMaxNet, StackedConvMaxNet, red_green_net, rook_net

__all__ = ["BNNeckLinear", "BagNet", "ConvMaxNet", "HEADS", "HardNet", "ResNet3d", "SmallResNet", "StackedConvMaxNet",
           "UnknownModelError", "bagnet33", "create", "list_models", "red_green_net", "register", "resnet18_narrow",
           "resnet3d", "resolve", "rook_net", "small_resnet", "with_head"]
