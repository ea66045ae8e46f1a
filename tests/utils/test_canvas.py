import pytest
import torch

from fullconv.utils.canvas import place_each, place_on_canvas


@pytest.mark.parametrize("content_shape, canvas, offset", [
    ((2, 3, 4, 5), (9, 7), (3, 1)),
    ((1, 1, 3), (10,), (6,)),
    ((2, 2, 2, 3, 4), (5, 6, 4), (1, 2, 0)),
])
def test_content_lies_at_the_offset_and_background_elsewhere(content_shape, canvas, offset):
    content = torch.rand(content_shape, dtype=torch.float64) + 1.0  # never equal to the background
    background = torch.arange(content_shape[1], dtype=torch.float64) - 5.0
    out = place_on_canvas(content, canvas, offset, background)
    assert out.shape == content_shape[:2] + canvas and out.dtype == content.dtype
    window = (slice(None), slice(None)) + tuple(slice(o, o + e) for o, e in zip(offset, content_shape[2:]))
    assert torch.equal(out[window], content)
    mask = torch.ones(out.shape, dtype=torch.bool)
    mask[window] = False
    expected = background.view((1, -1) + (1,) * len(canvas)).expand(out.shape)
    assert torch.equal(out[mask], expected[mask]) and mask.sum() == out.numel() - content.numel()


def test_each_item_at_its_own_offset_equals_placing_it_alone():
    content = torch.rand(4, 2, 3, 3)
    offsets = [(0, 0), (2, 5), (5, 2), (5, 5)]
    out = place_each(content, (8, 8), offsets, 0.5)
    for i, offset in enumerate(offsets):
        assert torch.equal(out[i:i + 1], place_on_canvas(content[i:i + 1], (8, 8), offset, 0.5))
    assert torch.equal(place_each(content, (8, 8), torch.tensor(offsets), 0.5), out)


def test_the_caller_content_is_not_aliased():
    content = torch.zeros(1, 1, 2, 2)
    place_on_canvas(content, (4, 4), (1, 1))[..., 1, 1] = 7.0
    assert content.abs().sum() == 0


@pytest.mark.parametrize("canvas, offset, match", [
    ((4, 4), (3, 0), "does not fit a canvas of"),
    ((4, 4), (-1, 0), "does not fit a canvas of"),
    ((4, 4), (0,), "one offset of 2 entries per item"),
])
def test_bad_placement_is_a_one_line_error(canvas, offset, match):
    with pytest.raises(ValueError, match=match) as error:
        place_on_canvas(torch.ones(1, 1, 2, 2), canvas, offset)
    assert "\n" not in str(error.value)
