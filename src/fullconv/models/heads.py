"""Classifier heads on pooled features: ``gap`` (global average pooling, then the linear layer) and
``bnneck`` (a BatchNorm1d on the pooled features before the same linear layer).

Why ``bnneck``: a full-convolution network's last feature map is much larger than a ``same`` one
and mostly border, so global average pooling shrinks its pooled features (their scale depends on
the border variant). Normalising them before the classifier gives every variant the same scale
at the head, so a short training run compares border handling, not how fast the classifier
adapts to a small input scale.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

HEADS = ("gap", "bnneck")


def check_head(head: str) -> str:
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of: {', '.join(HEADS)}")
    return head


class BNNeckLinear(nn.Linear):
    """``nn.Linear`` whose input first goes through ``BatchNorm1d(in_features)`` (attribute ``bn``).

    It keeps the Linear's ``weight`` and ``bias`` (same state_dict keys, plus ``bn.*``).

    Shape:
        - Input: (B, in_features)
        - Output: (B, out_features)

    Example:
        >>> head = BNNeckLinear(8, 3)
        >>> head(torch.randn(4, 8)).shape
        torch.Size([4, 3])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.bn = nn.BatchNorm1d(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.bn(x), self.weight, self.bias)


def with_head(model: nn.Module, head: str) -> nn.Module:
    """``model`` (with a linear classifier ``model.fc``) given ``head``; changes ``model`` in place and returns it.

    ``bnneck`` replaces ``fc`` by a :class:`BNNeckLinear` holding the same weight and bias, so the
    initial classifier is the one the model was built with.

    Example:
        >>> import torchvision
        >>> net = with_head(torchvision.models.resnet18(num_classes=5), "bnneck")
        >>> type(net.fc).__name__, tuple(net.fc.weight.shape)
        ('BNNeckLinear', (5, 512))
    """
    if check_head(head) == "gap":
        return model
    fc = getattr(model, "fc", None)
    if type(fc) is not nn.Linear:
        raise ValueError(f"head 'bnneck' needs a model whose classifier 'fc' is an nn.Linear; got {type(fc).__name__}")
    neck = BNNeckLinear(fc.in_features, fc.out_features, bias=fc.bias is not None)
    with torch.no_grad():
        neck.weight.copy_(fc.weight)
        if fc.bias is not None:
            neck.bias.copy_(fc.bias)
    model.fc = neck.to(fc.weight.device, fc.weight.dtype)
    return model
