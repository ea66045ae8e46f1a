import pytest
import torch

from fullconv.datasets.moving import MOTIONS, moving_items, trajectory
from fullconv.datasets.splits import split_generator

# Distinct items: item i is a constant square of grey level i + 1 (255 items).
ITEMS = (torch.arange(255, dtype=torch.uint8) + 1).view(-1, 1, 1).expand(-1, 28, 28).contiguous()


@pytest.mark.parametrize("motion", range(len(MOTIONS)))
def test_trajectory_follows_its_motion_inside_the_canvas(motion):
    generator = split_generator(0, "test", motion)
    for _ in range(20):
        corners = trajectory(motion, 16, 18, generator).float()
        assert corners.min() >= 0 and corners.max() <= 18
        step = corners[-1] - corners[0]
        if motion < 4:  # right, left, down, up: (row, col) steps
            direction = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}[motion]
            assert (step * torch.tensor(direction)).sum() >= 8 and (step * torch.tensor(direction)).abs().min() == 0
        else:  # the signed area swept around the centre: positive clockwise on screen (rows down)
            centred = corners - corners.mean(0)
            turn = (centred[:-1, 1] * centred[1:, 0] - centred[:-1, 0] * centred[1:, 1]).sum()
            assert turn > 0 if MOTIONS[motion] == "clockwise" else turn < 0


def test_seeded_balanced_and_in_range():
    sizes = {"train": 24, "val": 12}
    first = moving_items(sizes, seed=3, frames=8, size=24, item_size=10, items=ITEMS)
    again = moving_items(sizes, seed=3, frames=8, size=24, item_size=10, items=ITEMS)
    other = moving_items(sizes, seed=4, frames=8, size=24, item_size=10, items=ITEMS)
    for split, n in sizes.items():
        clips, labels = first[split]
        assert clips.shape == (n, 1, 8, 24, 24) and clips.dtype == torch.float32
        assert 0 <= clips.min() and clips.max() <= 1
        assert torch.equal(labels.bincount(), torch.full((len(MOTIONS),), n // len(MOTIONS)))
        assert torch.equal(clips, again[split][0]) and torch.equal(labels, again[split][1])
        assert not torch.equal(clips, other[split][0])


def coded_items(n: int) -> torch.Tensor:
    """Opaque 28×28 items: row 0 all white (finds the item), row 1 the bits of the item's index."""
    items = torch.zeros(n, 28, 28, dtype=torch.uint8)
    items[:, 0] = 255
    for i in range(n):
        items[i, 1, :8] = torch.tensor([255 * (i >> k & 1) for k in range(8)], dtype=torch.uint8)
    return items


def item_index(frame: torch.Tensor) -> int:
    """Read the index back from a frame: only opaque item pixels are exactly 1 (texture <= 0.5)."""
    opaque = frame == 1.0
    row = int((opaque.sum(1) == 28).nonzero()[0])
    col = int(opaque[row].nonzero()[0])
    return sum(int(bit) << k for k, bit in enumerate(opaque[row + 1, col:col + 8]))


def test_splits_use_disjoint_items():
    data = moving_items({"train": 60, "val": 60}, seed=0, frames=2, size=30, item_size=28, noise=0.0,
                        items=coded_items(250))
    used = {split: {item_index(clip[0, 0]) for clip in clips} for split, (clips, _) in data.items()}
    assert len(used["train"]) == len(used["val"]) == 60
    assert not used["train"] & used["val"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="classes must be 1..6"):
        moving_items({"train": 6}, 0, classes=7, items=ITEMS)
    with pytest.raises(ValueError, match="item_size 32 must be smaller"):
        moving_items({"train": 6}, 0, item_size=32, items=ITEMS)
