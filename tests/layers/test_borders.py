"""The Border value: one table, fields that say what each variant pads, and a variant added from outside."""
import typing

import pytest
import torch
import torch.nn.functional as F
import torchvision

from fullconv import convert
from fullconv.experiments.config import parse_sets
from fullconv.layers import (BORDERS, FULL_BORDERS, SAME_BORDERS, Border, BorderConv2d, BorderName, BorderPool,
                             get_border)
from fullconv.layers.padding import effective_kernel

D = torch.float64  # exact comparisons in float64

F_PAD_MODE = {"circular": "circular", "reflect": "reflect", "replicate": "replicate"}


def test_the_table_is_the_one_list_of_names():
    assert typing.get_args(BorderName) == tuple(BORDERS)
    assert all(border.name == name for name, border in BORDERS.items())
    assert SAME_BORDERS == tuple(n for n in BORDERS if n.startswith("same"))
    assert {"full", "full-exact"} <= set(FULL_BORDERS) and "valid" not in SAME_BORDERS + FULL_BORDERS
    assert [n for n, b in BORDERS.items() if b.exact] == ["full-exact"]


@pytest.mark.parametrize("name", BORDERS)
@pytest.mark.parametrize("kernel, dilation", [(1, 1), (2, 1), (3, 1), (4, 1), (3, 2), (5, 3)])
def test_pads_follow_the_extent(name, kernel, dilation):
    border, reach = BORDERS[name], effective_kernel(kernel, dilation) - 1
    left, right = border.pads(kernel, dilation)
    expected = {"valid": (0, 0), "same": (reach // 2, reach - reach // 2), "full": (reach, reach)}[border.extent]
    assert (left, right) == expected
    x = torch.randn(1, 1, 16, dtype=D)
    out = F.conv1d(border.pad(x, ((left, right),)), torch.ones(1, 1, kernel, dtype=D), dilation=dilation)
    assert out.shape[-1] == {"valid": 16 - reach, "same": 16, "full": 16 + reach}[border.extent]


@pytest.mark.parametrize("name", BORDERS)
def test_pad_fills_as_the_fill_says(name):
    border = BORDERS[name]
    x = torch.randn(2, 3, 6, 7, dtype=D)
    pads = ((2, 1), (1, 3))
    out = border.pad(x, pads)
    if border.extent == "valid":
        assert torch.equal(out, x[:, :, 0:6, 0:7])  # positive amounts: valid never pads
        assert torch.equal(border.pad(x, ((-1, -2), (0, -1))), x[:, :, 1:4, 0:6])
        return
    assert out.shape == (2, 3, 9, 11)
    assert torch.equal(out[:, :, 2:8, 1:8], x)
    if border.fill in F_PAD_MODE:
        assert torch.equal(out, F.pad(x, (1, 3, 2, 1), mode=F_PAD_MODE[border.fill]))
    elif border.exact:
        corner = x[:, :, :1, :1]
        ring = out.clone()
        ring[:, :, 2:8, 1:8] = corner
        assert torch.equal(ring, corner.expand_as(out))
        assert torch.equal(border.pad(x, pads, background=5.0)[:, :, 0], torch.full((2, 3, 11), 5.0, dtype=D))
    else:  # zeros, and partial (zeros here, the convolution rescales)
        assert torch.equal(out, F.pad(x, (1, 3, 2, 1)))


@pytest.mark.parametrize("name", BORDERS)
def test_pooling_fills(name):
    border = BORDERS[name]
    assert border.pool_fill("max") == (None if border.exact else 0.0 if border.extent == "full" else float("-inf"))
    assert border.pool_fill("avg") == (None if border.exact else 0.0)
    assert border.blur_fill() == (BORDERS["same-reflect"] if name == "same" else border)
    assert border.align_fill == ("crop" if name == "valid" else "background" if border.exact else "zeros")


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("reach", [0, 1, 2, 6])
@pytest.mark.parametrize("original_left", [0, 1, 3])
@pytest.mark.parametrize("lead_in", [0, 1, 4])
@pytest.mark.parametrize("margin", [0, 1])
def test_strided_lead_is_the_tightest_padding(stride, reach, original_left, lead_in, margin):
    pad = lambda lead: stride * lead + original_left - lead_in  # noqa: E731 - the converted layer's left padding
    full = BORDERS["full"].strided_lead(reach, stride, original_left, lead_in, margin)
    assert pad(full) >= reach + margin > pad(full - 1)
    valid = BORDERS["valid"].strided_lead(reach, stride, original_left, lead_in)
    assert pad(valid) <= 0 < pad(valid + 1)
    assert BORDERS["full-exact"].strided_lead(reach, stride, original_left, lead_in, margin) == full
    with pytest.raises(ValueError, match="keeps the original layer's sampling grid"):
        BORDERS["same"].strided_lead(reach, stride, original_left, lead_in)


def test_get_border_resolves_names_once_and_refuses_unknown_ones():
    assert get_border("full-exact") is BORDERS["full-exact"]
    assert get_border(BORDERS["same"]) is BORDERS["same"]
    for bad in ("ful", "Full", None, 3):
        with pytest.raises(ValueError, match="unknown border .*; choose one of: valid, same, same-circular"):
            get_border(bad)
    with pytest.raises(ValueError, match="extent must be one of"):
        Border("wide", "wide", "zeros")
    assert str(BORDERS["same-partial"]) == "same-partial" and hash(BORDERS["full"]) == hash(Border("full", "full", "zeros"))


def test_layers_keep_a_border_value_and_show_its_name():
    conv = BorderConv2d(1, 1, 3, border="same-reflect")
    assert conv.border is BORDERS["same-reflect"] and "border='same-reflect'" in repr(conv)
    assert BorderPool("max", 2, 3, 2, border="full-exact").border is BORDERS["full-exact"]


def test_a_variant_defined_outside_the_table_works_through_layers_and_convert():
    """A new variant needs only its (extent, fill): full extent with reflection padding."""
    full_reflect = Border("full-reflect", "full", "reflect")
    conv = BorderConv2d(2, 3, 3, border=full_reflect, dtype=D)
    x = torch.randn(1, 2, 8, 8, dtype=D)
    expected = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), conv.weight, conv.bias)
    assert torch.equal(conv(x), expected)
    net = torchvision.models.resnet18(num_classes=5).double().eval()
    converted, full = convert(net, full_reflect).eval(), convert(net, "full").eval()
    image = torch.randn(1, 3, 40, 40, dtype=D)
    assert converted.conv1.border is full_reflect and converted(image).shape == (1, 5)
    # the same grid as full (same extent): only the padded values differ
    assert converted.conv1.pads == full.conv1.pads and converted.layer2[0].conv1.pads == full.layer2[0].conv1.pads
    assert not torch.allclose(converted(image), full(image))


def test_a_config_typed_with_border_names_refuses_a_misspelt_one():
    from fullconv.experiments.red_green import Config
    assert parse_sets(Config, ["borders=same,full"]) == {"borders": ("same", "full")}
    with pytest.raises(ValueError, match="--set borders: unknown border 'ful'; choose one of: valid, same,"):
        parse_sets(Config, ["borders=same,ful"])
