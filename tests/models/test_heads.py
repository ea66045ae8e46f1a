"""Classifier heads: bnneck normalises the pooled features, keeps the classifier's weights, converts."""
import pytest
import torch
import torch.nn as nn

from fullconv.convert import convert
from fullconv.models import BNNeckLinear, resnet3d, small_resnet, with_head


def test_bnneck_keeps_weights_and_normalises_pooled_features():
    torch.manual_seed(0)
    gap = small_resnet((1, 1), width=4, num_classes=3)
    torch.manual_seed(0)
    neck = small_resnet((1, 1), width=4, num_classes=3, head="bnneck")
    assert isinstance(neck.fc, BNNeckLinear) and type(gap.fc) is nn.Linear
    torch.testing.assert_close(neck.fc.weight, gap.fc.weight)
    # In train mode the classifier sees pooled features of zero mean and unit variance per channel,
    # whatever their scale and offset: features at half the scale (as by a large, mostly-border map) give
    # the same logits; a plain linear head's logits change.
    features = torch.randn(16, 16, dtype=torch.float64)
    head = BNNeckLinear(16, 3).double().train()
    plain = nn.Linear(16, 3).double()
    with torch.no_grad():
        torch.testing.assert_close(head(0.5 * features + 2.0), head(features), rtol=0, atol=1e-4)
        assert (plain(0.5 * features + 2.0) - plain(features)).abs().max() > 1e-2

def test_bnneck_survives_convert():
    torch.manual_seed(0)
    model = convert(resnet3d(10, 4, width=4, in_channels=1, head="bnneck"), "full")
    model.eval()
    assert isinstance(model.fc, BNNeckLinear)
    assert model(torch.rand(2, 1, 8, 24, 24)).shape == (2, 4)


def test_bad_head():
    with pytest.raises(ValueError, match="unknown head 'gem'; choose one of: gap, bnneck"):
        small_resnet(head="gem")
    with pytest.raises(ValueError, match="needs a model whose classifier 'fc' is an nn.Linear"):
        with_head(nn.Sequential(nn.Linear(2, 2)), "bnneck")
