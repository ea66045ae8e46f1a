"""The small nets: stacked members compute what separate nets compute; full borders are shift-equivariant."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fullconv.layers import BORDERS
from fullconv.models.tiny import StackedConvMaxNet, pad_input_background, red_green_net, rook_net, seeded_members


def _boxes(canvas: int, top: int, left: int) -> torch.Tensor:
    """(1, 3, canvas, canvas): a fixed random 12×12 pattern with top-left corner (top, left)."""
    pattern = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(3))
    x = torch.zeros(1, 3, canvas, canvas)
    x[..., top:top + 12, left:left + 12] = pattern
    return x


@pytest.mark.parametrize("border", BORDERS)
def test_stacked_members_equal_separate_nets(border):
    nets = seeded_members(lambda: red_green_net(border), [0, 1, 2])
    stacked = StackedConvMaxNet.from_members(nets)
    x = torch.rand(3, 4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = stacked(x)
    assert out.shape == (3, 4, 2)
    for m, net in enumerate(nets):
        torch.testing.assert_close(out[m], net(x[m]), rtol=1e-5, atol=1e-6)


def test_stacked_gradients_equal_separate_gradients():
    nets = seeded_members(lambda: red_green_net("same-partial"), [4, 5])
    stacked = StackedConvMaxNet.from_members(nets)
    x = torch.rand(2, 3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([[0, 1, 1], [1, 0, 0]])
    F.cross_entropy(stacked(x).flatten(0, 1), y.flatten(), reduction="sum").backward()
    for m, net in enumerate(nets):
        F.cross_entropy(net(x[m]), y[m], reduction="sum").backward()
        for conv, weight in zip(net.convs, stacked.weights):
            torch.testing.assert_close(weight.grad[m], conv.weight.grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(stacked.fc_bias.grad[m], net.fc.bias.grad, rtol=1e-4, atol=1e-6)


def test_members_keep_their_own_seeded_initialisation():
    stacked = StackedConvMaxNet.from_members(seeded_members(lambda: rook_net("full"), [7, 8]))
    torch.manual_seed(8)
    alone = rook_net("full")
    for name, value in alone.state_dict().items():
        assert torch.equal(stacked.member(1).state_dict()[name], value)
    assert not torch.equal(stacked.weights[0][0], stacked.weights[0][1])


def test_stacked_rejects_wrong_member_count():
    stacked = StackedConvMaxNet.from_members(seeded_members(lambda: rook_net("same"), [0, 1]))
    with pytest.raises(ValueError, match="M=2"):
        stacked(torch.zeros(3, 1, 1, 32, 32))


def test_stacked_rejects_mixed_members():
    with pytest.raises(ValueError, match="share border"):
        StackedConvMaxNet.from_members([rook_net("same"), rook_net("full")])


@pytest.mark.parametrize("border", ["full", "full-exact"])
def test_full_borders_are_exactly_shift_equivariant(border):
    """Moving the content by the total stride (8) moves the last map by one cell, exactly."""
    torch.manual_seed(0)
    net = red_green_net(border)
    with torch.no_grad():
        near = net.feature_maps(_boxes(40, 0, 0))
        far = net.feature_maps(_boxes(40, 8, 16))
        assert near.abs().sum() > 0
        torch.testing.assert_close(far[..., 1:, 2:], near[..., :-1, :-2], rtol=0, atol=1e-6)
        assert far[..., :1, :].abs().max() == 0 and far[..., :, :2].abs().max() == 0
        torch.testing.assert_close(net(_boxes(40, 0, 0)), net(_boxes(40, 8, 16)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("border", ["same", "valid", "same-reflect"])
def test_other_borders_see_the_image_edge(border):
    torch.manual_seed(0)
    net = red_green_net(border)
    with torch.no_grad():
        assert not torch.allclose(net(_boxes(40, 0, 0)), net(_boxes(40, 8, 16)), atol=1e-4)


def test_full_exact_leaves_background_first_element():
    torch.manual_seed(0)
    net = red_green_net("full-exact")
    x = torch.zeros(1, 3, 32, 32)
    x[..., :4, :4] = 1.0  # content on the very first pixel
    h = pad_input_background(x, 0.0)
    with torch.no_grad():
        for conv in net.convs:
            h = F.relu(conv(h))
            assert h[..., 0, 0].abs().max() == 0
