"""align(): maps whose grids start at different steps come out with equal indices at equal positions."""
from __future__ import annotations

import pytest
import torch

from fullconv.layers import BORDERS, align


def _positions(start: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """A (1, 2, H, W) map whose values are its own grid positions: row·100 + column (+1000 in channel 1)."""
    rows = torch.arange(start[0], start[0] + size[0], dtype=torch.float64).view(-1, 1)
    cols = torch.arange(start[1], start[1] + size[1], dtype=torch.float64).view(1, -1)
    grid = rows * 100 + cols
    return torch.stack([grid, grid + 1000]).unsqueeze(0)


# two maps of a residual join: one starts (2, 1) grid steps after the other and is smaller
MAPS = [((0, 0), (7, 6)), ((2, 1), (4, 4))]


def test_valid_keeps_the_positions_every_map_has():
    maps = [_positions(start, size) for start, size in MAPS]
    out = align(maps, [start for start, _ in MAPS], "valid")
    expected = _positions((2, 1), (4, 4))
    for y in out:
        assert torch.equal(y, expected)


@pytest.mark.parametrize("border", [b for b in BORDERS if b != "valid"])
def test_other_borders_keep_every_position_and_pad_the_missing(border):
    maps = [_positions(start, size) for start, size in MAPS]
    out = align(maps, [start for start, _ in MAPS], border)
    assert [y.shape for y in out] == [(1, 2, 7, 6)] * 2
    assert torch.equal(out[0], maps[0])  # the map that spans the union is untouched
    assert torch.equal(out[1][..., 2:6, 1:5], maps[1])  # equal indices, equal positions
    padded = torch.ones(7, 6, dtype=torch.bool)
    padded[2:6, 1:5] = False
    # full-exact pads with the map's own background (its first element, per channel); the others with zeros
    fill = maps[1][..., :1, :1] if border == "full-exact" else torch.zeros(1, 2, 1, 1, dtype=torch.float64)
    assert torch.equal(out[1][..., padded], fill.flatten(2).expand(1, 2, int(padded.sum())))


def test_a_residual_sum_after_align_adds_equal_positions():
    maps = [_positions(start, size) for start, size in MAPS]
    left, right = align(maps, [start for start, _ in MAPS], "valid")
    total = left + right
    assert torch.equal(total, 2 * _positions((2, 1), (4, 4)))
    # negative control: cropping both to the smaller size without the offsets mixes positions
    assert not torch.equal(maps[0][..., :4, :4] + maps[1], total)


def test_more_than_two_maps_and_offsets_in_one_dim():
    maps = [_positions((0, 0), (3, 5)), _positions((0, 2), (3, 5)), _positions((0, 1), (3, 3))]
    out = align(maps, [(0, 0), (0, 2), (0, 1)], "full")
    assert [y.shape for y in out] == [(1, 2, 3, 7)] * 3
    for y, (_, start) in zip(out, [(0, 0), (0, 2), (0, 1)]):
        width = 5 if start != 1 else 3
        assert torch.equal(y[..., start:start + width], _positions((0, start), (3, width)))
    valid = align(maps, [(0, 0), (0, 2), (0, 1)], "valid")
    for y in valid:
        assert torch.equal(y, _positions((0, 2), (3, 2)))


def test_full_exact_background_per_frame_with_border_ndim_2():
    # a 3-D network whose border covers height and width: the background is read in every frame
    frames = torch.arange(3, dtype=torch.float64).view(1, 1, 3, 1, 1) * 10
    small = frames + torch.rand(1, 1, 3, 2, 2, dtype=torch.float64)
    small[..., 0, 0] = frames[..., 0, 0]  # each frame's first element is its background
    big = torch.zeros(1, 1, 3, 4, 4, dtype=torch.float64)
    _, out = align([big, small], [(0, 0, 0), (0, 1, 1)], "full-exact", border_ndim=2)
    assert out.shape == (1, 1, 3, 4, 4)
    assert torch.equal(out[..., 1:3, 1:3], small)
    for t in range(3):
        assert torch.equal(out[0, 0, t, 0], torch.full((4,), 10.0 * t, dtype=torch.float64))
    # negative control: over all three dims (the default) the background is frame 0's in every frame
    _, whole = align([big, small], [(0, 0, 0), (0, 1, 1)], "full-exact")
    assert torch.equal(whole[0, 0, 2, 0], torch.zeros(4, dtype=torch.float64))
