"""Normalisation constants."""

#: Per-channel (R, G, B) mean and standard deviation of ImageNet pixels in [0, 1], as torchvision's weights use.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The same for Kinetics-400 clips, as torchvision's video models use.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
