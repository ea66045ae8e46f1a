"""Red-green data: disjoint splits, geometry of the boxes, the dissimilar set is the similar one moved."""
from __future__ import annotations

import pytest
import torch

from fullconv.datasets.redgreen import RedGreenSpec, red_green, split_layouts

SPEC = RedGreenSpec()


@pytest.fixture(scope="module")
def splits():
    return {split: red_green(SPEC, 0, split) for split in ("train", "val", "similar", "dissimilar")}


def _rows(x: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in x}


def test_sizes_and_balance(splits):
    for split, n in (("train", 2000), ("val", 1000), ("similar", 1000), ("dissimilar", 1000)):
        x, y = splits[split]
        assert x.shape == (n, 3, 32, 32) and x.dtype == torch.float32
        assert y.sum() == n // 2


def test_no_test_or_val_image_equals_a_training_image(splits):
    train = _rows(splits["train"][0])
    assert not train & _rows(splits["similar"][0])
    assert not train & _rows(splits["val"][0])
    assert not _rows(splits["val"][0]) & _rows(splits["similar"][0])


def test_same_arguments_same_images_other_seed_other_images(splits):
    assert torch.equal(red_green(SPEC, 0, "train")[0], splits["train"][0])
    assert not torch.equal(red_green(SPEC, 1, "train")[0], splits["train"][0])


def test_box_geometry(splits):
    x, y = splits["train"]
    for channel in (0, 1):
        assert torch.equal(x[:, channel].sum(dim=(1, 2)), torch.full((len(x),), 16.0))  # one whole 4×4 box
    layouts = split_layouts(SPEC, 0, "train")
    left, right, jitter = layouts[:, 1], layouts[:, 2], layouts[:, 3:]
    assert left.min() == 0 and left.max() == 9
    assert (right >= left + 5).all() and right.max() <= 27
    assert jitter.min() == -4 and jitter.max() == 3
    # boxes never touch: at least one empty column between them
    occupied = x.amax(dim=(1, 2)) > 0  # (N, W)
    for row in occupied:
        columns = row.nonzero().flatten()
        assert len(columns) == 8 and (columns[4] - columns[3]) >= 2


def test_classes_tell_colour_order_and_band(splits):
    x, y = splits["train"]
    rows = torch.arange(32, dtype=torch.float32)
    cols = torch.arange(32, dtype=torch.float32)
    def centre(channel, axis_values, dims):
        mass = x[:, channel].sum(dim=dims)
        return (mass * axis_values).sum(1) / mass.sum(1)
    red_x, green_x = centre(0, cols, 1), centre(1, cols, 1)
    red_y = centre(0, rows, 2)
    assert ((red_x < green_x) == (y == 0)).all()
    assert ((red_y < 16) == (y == 0)).all()
    assert red_y[y == 0].min() >= 3 + 1.5 and red_y[y == 1].max() <= 26 + 1.5


def test_dissimilar_is_similar_moved_by_sixteen_rows(splits):
    similar, y = splits["similar"]
    dissimilar, y2 = splits["dissimilar"]
    assert torch.equal(y, y2)
    assert torch.equal(dissimilar[y == 0], torch.roll(similar[y == 0], 16, dims=2))
    assert torch.equal(dissimilar[y == 1], torch.roll(similar[y == 1], -16, dims=2))


def test_unknown_split():
    with pytest.raises(ValueError, match="choose one of"):
        red_green(SPEC, 0, "test")


def test_paper_split_protocol_copies_training_images_on_purpose():
    """split_protocol=paper: val and similar test images are the first training images (the paper's leak)."""
    from fullconv.datasets.redgreen import RedGreenSpec, red_green

    spec = RedGreenSpec(n_train=40, n_val=10, n_test=20)
    train, _ = red_green(spec, 0, "train", "paper")
    for split, n in (("val", 10), ("similar", 20)):
        x, y = red_green(spec, 0, split, "paper")
        assert torch.equal(x, train[:n])
    # Our default: no test image is a training image (the negative control).
    similar, _ = red_green(spec, 0, "similar")
    assert not any(torch.equal(image, t) for image in similar for t in train)
    with pytest.raises(ValueError, match="unknown split_protocol"):
        red_green(spec, 0, "val", "leaky")
