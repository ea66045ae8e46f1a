"""Normalisation constants."""

#: Per-channel (R, G, B) mean and standard deviation of ImageNet pixels in [0, 1], as torchvision's weights use.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
