"""Model zoo beyond torchvision: small nets of the experiments, BagNet, HardNet, 3D ResNets."""
from .bagnet import BagNet, bagnet33
from .hardnet import HardNet
from .heads import HEADS, BNNeckLinear, with_head
from .resnet3d import ResNet3d, resnet3d
from .small_resnet import SmallResNet, small_resnet
from .tiny import ConvMaxNet, StackedConvMaxNet, red_green_net, rook_net

__all__ = ["BNNeckLinear", "BagNet", "ConvMaxNet", "HEADS", "HardNet", "ResNet3d", "SmallResNet", "StackedConvMaxNet",
           "bagnet33", "red_green_net", "resnet3d", "rook_net", "small_resnet", "with_head"]
