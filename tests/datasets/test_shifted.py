"""Fashion-MNIST canvases for the shift experiment: geometry, items always in view, seeds, disjoint splits."""
from __future__ import annotations

import pytest
import torch

from fullconv.datasets.shifted import ShiftCanvas, shifted_fashion_mnist

SIZES = {"train": 40, "val": 20, "test": 30}


@pytest.fixture(scope="module")
def splits():
    return shifted_fashion_mnist(ShiftCanvas(max_shift=6, train_jitter=1, item=14), SIZES, root_seed=3)


def test_shapes_and_range(splits):
    for name, side in (("train", 20), ("val", 20), ("test", 26)):
        images, labels = splits[name]
        assert images.shape == (SIZES[name], 1, side, side) and labels.shape == (SIZES[name],)
        assert images.min() >= 0 and images.max() <= 1


def test_every_shifted_crop_holds_the_whole_test_item(splits):
    images, _ = splits["test"]
    total = images.sum(dim=(1, 2, 3))
    for top in range(7):
        for left in range(7):
            crop = images[:, :, top:top + 20, left:left + 20]
            torch.testing.assert_close(crop.sum(dim=(1, 2, 3)), total)


def test_training_items_stay_within_the_jitter(splits):
    images, _ = splits["train"]
    rows = images.sum(dim=(1, 3)) > 0
    first = rows.float().argmax(dim=1)
    # item rows start at 3 ± 1 (centre of the 6-pixel margin); a dark top row can only move it down
    assert first.min() >= 2


def test_same_seed_same_data_and_splits_are_distinct():
    geometry = ShiftCanvas(max_shift=4, train_jitter=0, item=14)
    a = shifted_fashion_mnist(geometry, {"train": 30, "val": 30}, root_seed=5)
    b = shifted_fashion_mnist(geometry, {"train": 30, "val": 30}, root_seed=5)
    c = shifted_fashion_mnist(geometry, {"train": 30, "val": 30}, root_seed=6)
    assert torch.equal(a["train"][0], b["train"][0]) and not torch.equal(a["train"][0], c["train"][0])
    train = {tuple(x.flatten().tolist()) for x in a["train"][0]}
    val = {tuple(x.flatten().tolist()) for x in a["val"][0]}
    assert not train & val  # no jitter or flip in val, none here in train: equal pixels would mean a shared item


def test_bad_geometry_and_split():
    with pytest.raises(ValueError, match="train_jitter"):
        ShiftCanvas(max_shift=4, train_jitter=3)
    with pytest.raises(ValueError, match="unknown splits"):
        shifted_fashion_mnist(ShiftCanvas(), {"training": 3}, 0)
