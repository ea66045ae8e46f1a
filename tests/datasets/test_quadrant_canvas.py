import pytest
import torch

from fullconv.datasets.quadrant import (
    IMAGENET_MEAN, IMAGENET_STD, QuadrantCanvas, QuadrantGeometry, quadrant_images,
)


@pytest.fixture(scope="module")
def splits():
    return quadrant_images("fashion-mnist", (40, 20, 30), item=14, seed=0)


def test_train_val_test_images_are_disjoint(splits):
    assert [len(splits[name].ids) for name in ("train", "val", "test")] == [40, 20, 30]
    ids = [set(splits[name].ids) for name in ("train", "val", "test")]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    pixels = [{tuple(x.flatten().tolist()) for x in splits[name].images} for name in ("train", "val", "test")]
    assert sum(len(p) for p in pixels) == 90 and len(set().union(*pixels)) == 90


def test_splits_are_a_function_of_the_seed(splits):
    again = quadrant_images("fashion-mnist", (40, 20, 30), item=14, seed=0)
    other = quadrant_images("fashion-mnist", (40, 20, 30), item=14, seed=1)
    assert again["test"].ids == splits["test"].ids and torch.equal(again["test"].images, splits["test"].images)
    assert other["test"].ids != splits["test"].ids


def test_paper_geometry():
    geometry = QuadrantGeometry()
    assert (geometry.item, geometry.canvas, geometry.offset) == (56, 120, 64)
    assert geometry.corner(0) == 0 and geometry.corner(1) == 64
    with pytest.raises(ValueError, match="item < canvas"):
        QuadrantGeometry(item=60, canvas=60)


@pytest.mark.parametrize("frame", [0, 5])
def test_class_geometry_and_black_frame(frame):
    images = torch.rand(3, 3, 6, 6) * 0.9 + 0.1  # never black, so the image's pixels can be located
    data = QuadrantCanvas(images, canvas=14, frame=frame)
    assert len(data) == 6 and data.size == 14 + 2 * frame
    for index in range(6):
        pixels, label = data.pixels(index)
        assert label == index // 3
        assert pixels.shape == (3, 14 + 2 * frame, 14 + 2 * frame)
        rows = (pixels.sum(0) > 0).any(1).nonzero().flatten()
        cols = (pixels.sum(0) > 0).any(0).nonzero().flatten()
        start = frame + (0 if label == 0 else 8)  # paper: rows 0..55 vs 64..119
        assert rows.tolist() == list(range(start, start + 6)) and cols.tolist() == rows.tolist()
        assert torch.equal(pixels[:, start:start + 6, start:start + 6], images[index % 3])
        outside = torch.ones_like(pixels, dtype=torch.bool)
        outside[:, start:start + 6, start:start + 6] = False
        assert not pixels[outside].any()  # everything else is black
    # both classes are the same content shifted by the offset
    upper, _ = data.pixels(0)
    lower, _ = data.pixels(3)
    assert torch.equal(torch.roll(upper, shifts=(8, 8), dims=(1, 2)), lower)


def test_mean_frame_is_exactly_zero_after_normalisation():
    images = torch.rand(2, 3, 6, 6)
    data = QuadrantCanvas(images, canvas=14, frame=4, frame_colour="mean")
    x, _ = data[1]
    frame = torch.ones(22, 22, dtype=torch.bool)
    frame[4:18, 4:18] = False
    assert torch.equal(x[:, frame], torch.zeros(3, int(frame.sum())))
    # the canvas stays black, i.e. -mean/std after normalisation
    black = -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[:, 17, 4], black)
    pixels, _ = data.pixels(1)
    assert torch.equal(pixels[:, 0, 0], torch.tensor(IMAGENET_MEAN))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="frame colour"):
        QuadrantCanvas(torch.rand(1, 3, 4, 4), canvas=10, frame_colour="grey")
    with pytest.raises(ValueError, match="frame must be"):
        QuadrantCanvas(torch.rand(1, 3, 4, 4), canvas=10, frame=-1)
    with pytest.raises(ValueError, match="positive split sizes"):
        quadrant_images("fashion-mnist", (10, 0, 10), item=8, seed=0)


def test_paper_split_protocol_shares_images_on_purpose(tmp_path):
    """split_protocol=paper: every split is the head of one pool (the paper's code); default: disjoint."""
    import torch

    from fullconv.datasets.quadrant import quadrant_images

    leaky = quadrant_images("fashion-mnist", (6, 4, 5), 8, 0, "paper")
    assert torch.equal(leaky["test"].images, leaky["train"].images[:5])
    assert torch.equal(leaky["val"].images, leaky["train"].images[:4])
    ours = quadrant_images("fashion-mnist", (6, 4, 5), 8, 0)
    assert not set(ours["test"].ids) & set(ours["train"].ids)
