"""HardNet (Mishchuk et al. 2017): the L2-Net 7-layer descriptor of 32×32 grayscale patches, for any border.

The layers and their ``state_dict`` keys are those of the authors' ``HardNet.features``
(six 3×3 conv–BN–ReLU blocks, dropout, an 8×8 conv and a final BN, all without affine terms
or biases), so their checkpoints load into the ``same`` variant unchanged.

Every border variant gives the same 128-D descriptor. The 3×3 layers follow the border; the
8×8 layer stays a plain (valid) convolution as in the original. With ``same`` borders it sees an
8×8 map and returns one position; with ``full`` borders it sees 14×14 and returns 7×7 positions
(the paper's code flattened these into 6272 values, a different descriptor). Here the positions
are averaged, which for ``same`` is the identity, so the descriptor is always the 128 averaged
responses, batch-normalised and L2-normalised.

``full-exact`` layers pad with the background read from their input's first row and column, which
a full convolution of a patch does not leave as background. So the normalised patch gets a frame
of background on its top and left, as wide as the stack's total stride (4): every layer's first
row and column is then pure background, the sampling grid keeps the phase of ``full``, and the
one extra row and column of the final map is cropped. The map is that of ``full`` with every
padded value replaced by the background's response.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..layers import Border, BorderConv2d, background_frame, get_border
from .registry import register

#: (in, out, stride) of the six 3×3 layers, in units of the width (32 in HardNet).
LAYERS = ((0, 1, 1), (1, 1, 1), (1, 2, 2), (2, 2, 1), (2, 4, 2), (4, 4, 1))
PATCH = 32
DIM = 128
HEAD_KERNEL = 8
TOTAL_STRIDE = 4


def normalize_patches(x: Tensor) -> Tensor:
    """Zero mean, unit standard deviation per patch, as HardNet's ``input_norm``. x: (B, 1, H, W)."""
    flat = x.flatten(1)
    mean = flat.mean(dim=1).detach()
    std = flat.std(dim=1).detach() + 1e-7
    return (x - mean.view(-1, 1, 1, 1)) / std.view(-1, 1, 1, 1)


@register("hardnet")
class HardNet(nn.Module):
    """The HardNet descriptor with the 3×3 layers in one border variant.

    Args:
        border: a name from ``fullconv.BORDERS`` whose 3×3 stack leaves at least 8×8 of a
            32×32 patch (every ``same`` variant, ``full`` and ``full-exact``).
        dropout: dropout rate before the 8×8 layer (0.3 in HardNet).
        width: channels of the first layers (32 in HardNet; the later ones have 2× and 4× as
            many); the descriptor has 128 values at every width.
        background: for ``full-exact``, the padded value of the normalised patch; 0 is the
            patch's mean intensity.

    Shape:
        - Input: (B, 1, 32, 32) grayscale patches (any scale: each is normalised).
        - Output: (B, 128) unit-norm descriptors.

    Example:
        >>> HardNet("full").eval()(torch.rand(2, 1, 32, 32)).shape
        torch.Size([2, 128])
    """

    def __init__(self, border: str | Border = "same", dropout: float = 0.3, background: float = 0.0,
                 width: int = 32) -> None:
        super().__init__()
        self.border = get_border(border)
        self.background = background
        modules: list[nn.Module] = []
        for c_in, c_out, stride in LAYERS:
            c_in, c_out = max(1, c_in * width), c_out * width
            modules += [BorderConv2d(c_in, c_out, 3, stride=stride, bias=False, border=border),
                        nn.BatchNorm2d(c_out, affine=False), nn.ReLU()]
        modules += [nn.Dropout(dropout), nn.Conv2d(4 * width, DIM, HEAD_KERNEL, bias=False),
                    nn.BatchNorm2d(DIM, affine=False)]
        self.features = nn.Sequential(*modules)
        size = self.map_size(PATCH)
        if size < HEAD_KERNEL:
            raise ValueError(f"border {self.border.name!r} shrinks a {PATCH}×{PATCH} patch to {size}×{size}, "
                             f"smaller than HardNet's {HEAD_KERNEL}×{HEAD_KERNEL} layer; use a same or full border")
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.orthogonal_(module.weight, gain=0.6)

    def map_size(self, size: int) -> int:
        """Side of the map that the 3×3 stack makes of a ``size``×``size`` input."""
        for module in self.features:
            if isinstance(module, BorderConv2d):
                (left, right), stride = module.pads[0], module.stride[0]
                size = (size + left + right - module.kernel_size[0]) // stride + 1
        return size

    def feature_map(self, x: Tensor) -> Tensor:
        """x: (B, 1, H, W) -> the 3×3 stack's map (B, 128, H', W') of the normalised patches."""
        x = normalize_patches(x)
        if not self.border.exact:
            return self.features[:18](x)
        framed = background_frame(x, TOTAL_STRIDE, self.background)
        return self.features[:18](framed)[..., 1:, 1:]

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 1, 32, 32) -> (B, 128) unit-norm descriptors."""
        responses = self.features[18:20](self.feature_map(x))
        pooled = responses.mean(dim=(2, 3), keepdim=True)
        return F.normalize(self.features[20](pooled).flatten(1), dim=1)


def descriptor_distances(anchors: Tensor, positives: Tensor, eps: float = 1e-6) -> Tensor:
    """Euclidean distances of unit-norm descriptors, as HardNet computes them.

    anchors: (B, D), positives: (B', D) -> (B, B'); ``eps`` keeps the gradient finite at 0.
    """
    return torch.sqrt((2 - 2 * anchors @ positives.T).clamp(min=0) + eps)


class PairDistances(nn.Module):
    """Descriptor distances of all (anchor, positive) combinations of a batch of pairs.

    Shape:
        - Input: (B, 2, H, W) pairs (any dtype; uint8 patches are converted to float).
        - Output: (B, B) with the matching pairs on the diagonal.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pairs: Tensor) -> Tensor:
        pairs = pairs.float()
        # anchors and positives pass separately, as in HardNet, so each half has its own BN statistics
        return descriptor_distances(self.net(pairs[:, :1]), self.net(pairs[:, 1:]))


def hardest_in_batch_loss(distances: Tensor, margin: float = 1.0, too_close: float = 0.008) -> Tensor:
    """HardNet's triplet margin loss with the hardest negative of the batch (anchor swap).

    Args:
        distances: (B, B) anchor–positive distances, matches on the diagonal.
        margin: the triplet margin.
        too_close: negatives nearer than this are ignored (likely duplicates of the positive).

    Returns:
        (B,) ``max(0, margin + d(a, p) - min(d(a, n), d(n, p)))`` per pair, over negatives n.
    """
    positive = distances.diagonal()
    masked = distances + 10 * torch.eye(len(distances), device=distances.device, dtype=distances.dtype)
    masked = masked + 10 * (masked < too_close).to(distances.dtype)
    hardest = torch.minimum(masked.min(dim=1).values, masked.min(dim=0).values)
    return (margin + positive - hardest).clamp(min=0)
