"""SpaceToDepth: timm's space-to-depth bit for bit, and with a border the b×b/stride-b convolution of
one-hot weights that it is."""
import pytest
import torch
import torch.nn as nn

from fullconv.layers import BorderConv2d, SpaceToDepth


def _one_hot_conv(channels: int, block: int, border: str, pads) -> BorderConv2d:
    """The b×b/stride-b convolution whose output channel (i·b + j)·C + c is input channel c at (i, j)."""
    conv = BorderConv2d(channels, block * block * channels, block, stride=block, bias=False, border=border,
                        pads=pads).double()
    weight = torch.zeros_like(conv.weight)
    for i in range(block):
        for j in range(block):
            for c in range(channels):
                weight[(i * block + j) * channels + c, c, i, j] = 1.0
    conv.weight = nn.Parameter(weight)
    return conv


def test_same_is_timms_space_to_depth_bit_for_bit():
    timm = pytest.importorskip("timm")
    x = torch.randn(2, 3, 16, 12, dtype=torch.float64)
    assert torch.equal(SpaceToDepth(4, "same")(x), timm.layers.SpaceToDepth(4)(x))
    assert torch.equal(SpaceToDepth(4, "same")(x.to(memory_format=torch.channels_last)), timm.layers.SpaceToDepth(4)(x))


@pytest.mark.parametrize("border", ["full", "full-exact", "valid", "same"])
@pytest.mark.parametrize("block,size", [(2, 7), (4, 16), (4, 13), (3, 10)])
def test_space_to_depth_is_the_one_hot_strided_convolution(border, block, size):
    """Same padding, same output size (floor of whole blocks), same values: a rearrangement."""
    x = torch.randn(2, 3, size, size + 1, dtype=torch.float64) + 0.5
    pads = {"full": ((block - 1, block - 1),) * 2, "full-exact": ((block, block - 1),) * 2,
            "valid": ((-1, 0),) * 2, "same": ((0, 0),) * 2}[border]
    s2d = SpaceToDepth(block, border, pads=pads)
    y = s2d(x)
    assert y.shape[1:] == (3 * block * block, (size + sum(pads[0])) // block, (size + 1 + sum(pads[1])) // block)
    assert torch.equal(y, _one_hot_conv(3, block, border, pads)(x))


def test_the_one_hot_reference_tells_a_channel_order_apart():
    """Negative control: pixel_unshuffle alone (channel order c, i, j) is not space-to-depth."""
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    assert not torch.equal(torch.nn.functional.pixel_unshuffle(x, 4), _one_hot_conv(3, 4, "same", ((0, 0),) * 2)(x))


def test_a_space_to_depth_needs_a_map():
    with pytest.raises(ValueError, match=r"expects \(B, C, H, W\)"):
        SpaceToDepth(4)(torch.zeros(1, 3, 8))


@pytest.mark.parametrize("border", ["full", "full-exact"])
def test_a_phase_moves_each_samples_blocks(border):
    """With a phase per sample, space-to-depth of the padded map with the phase taken off its left
    (take_phase, the reference), for every phase of a 2×2 block and a 4×4 one."""
    from fullconv.layers.padding import corner_background, pad_constant
    from fullconv.layers.polyphase import take_phase
    for block in (2, 4):
        x = torch.randn(block * block, 3, 11, 10, dtype=torch.float64) + 1.0
        phase = torch.tensor([(i, j) for i in range(block) for j in range(block)])
        pads = ((2 * block - 1, block - 1),) * 2   # the s - 1 more on the left that a phased layer has
        s2d = SpaceToDepth(block, border, pads=pads)
        value = corner_background(x, 2) if border == "full-exact" else 0.0
        reference = take_phase(pad_constant(x, pads, value), phase, (block, block), value)
        expected = SpaceToDepth(block, "same")(reference)
        assert torch.allclose(s2d(x, phase), expected, rtol=0, atol=1e-12)
        assert not torch.allclose(s2d(x, phase.flip(0)), expected)   # control: other phases, other blocks
