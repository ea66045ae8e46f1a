import pytest
import torch

from fullconv.datasets.patches import (WarpConfig, mosaic, phototour, phototour_test_pairs, phototour_training_pairs,
                                       sample_views, synthetic_test_pairs, synthetic_training_pairs, textured_points)
from fullconv.datasets.splits import split_generator
from fullconv.models.hardnet import normalize_patches

# smooth random images with flat background stripes, as Fashion-MNIST has
COARSE = torch.rand(256, 1, 7, 7, generator=torch.Generator().manual_seed(0))
IMAGES = (torch.nn.functional.interpolate(COARSE, size=28, mode="bilinear")[:, 0] * 255).to(torch.uint8)
IMAGES[:, :, :6] = 0


def test_mosaic_tiles_in_row_major_order():
    scene = mosaic(IMAGES, 16)
    assert scene.shape == (448, 448)
    torch.testing.assert_close(scene[28:56, 56:84], IMAGES[16 + 2].float() / 255)
    with pytest.raises(ValueError, match="needs 289 images"):
        mosaic(IMAGES, 17)


def test_identity_warp_is_the_crop():
    scene = mosaic(IMAGES, 16)
    still = WarpConfig(rotation=0, scale=0, shear=0, shift=0, contrast=0, brightness=0, noise=0)
    view = sample_views(scene, torch.tensor([[40.5, 50.5]]), 1, still, split_generator(0, "t"))
    torch.testing.assert_close(view[0, 0], scene[35:67, 25:57], atol=1e-4, rtol=0)


def test_points_are_textured():
    scene = mosaic(IMAGES, 16)
    cfg = WarpConfig(min_std=0.3)
    centres = textured_points(scene, 50, cfg, split_generator(0, "t"))
    for x, y in centres.round().long().tolist():
        assert scene[y - 16:y + 16, x - 16:x + 16].std() >= cfg.min_std


def test_training_pairs_deterministic_and_matching():
    pairs = synthetic_training_pairs(IMAGES, 64, seed=0)
    assert pairs.shape == (64, 2, 32, 32) and pairs.dtype == torch.uint8
    assert torch.equal(pairs, synthetic_training_pairs(IMAGES, 64, seed=0))
    assert not torch.equal(pairs, synthetic_training_pairs(IMAGES, 64, seed=1))
    # two views of one point are closer than views of different points
    views = normalize_patches(pairs.float().reshape(128, 1, 32, 32)).reshape(64, 2, -1)
    distances = torch.cdist(views[:, 0], views[:, 1])
    assert distances.diagonal().mean() < 0.7 * distances[~torch.eye(64, dtype=torch.bool)].mean()


def test_test_pairs_half_matching_with_the_right_patches():
    data = synthetic_test_pairs(IMAGES, 100, seed=0)
    assert data.patches.shape == (200, 1, 32, 32)
    first, second, match = data.pairs.T
    assert match.sum() == 50 and len(match) == 100
    assert torch.equal(second[match == 1], first[match == 1] + 1)            # views 0 and 1 of one point
    assert (first[match == 0] // 2 != second[match == 0] // 2).all()         # negatives: different points
    assert (first % 2 == 0).all() and (second % 2 == 1).all()


@pytest.fixture
def phototour_root(tmp_path):
    patches = torch.arange(6 * 64 * 64).reshape(6, 64, 64).remainder(251).to(torch.uint8)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    matches = torch.tensor([[0, 1, 1], [2, 5, 0], [3, 4, 1]])
    torch.save((patches, labels, matches), tmp_path / "liberty.pt")
    return tmp_path, patches, labels


def test_phototour_training_pairs_are_two_patches_of_one_point(phototour_root):
    root, patches, labels = phototour_root
    pairs = phototour_training_pairs(root, "liberty", 40, seed=0)
    assert pairs.shape == (40, 2, 32, 32)
    shrunk = torch.nn.functional.avg_pool2d(patches[:, None].float(), 2).round().to(torch.uint8)[:, 0]
    for anchor, positive in pairs:
        i = next(k for k in range(6) if torch.equal(shrunk[k], anchor))
        j = next(k for k in range(6) if torch.equal(shrunk[k], positive))
        assert i != j and labels[i] == labels[j]


def test_phototour_test_pairs(phototour_root):
    root, patches, _ = phototour_root
    data = phototour_test_pairs(root, "liberty")
    assert data.patches.shape == (6, 1, 32, 32)  # every patch is used by a pair here
    assert data.pairs.tolist() == [[0, 1, 1], [2, 5, 0], [3, 4, 1]]


def test_phototour_exception(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data"):
        phototour(tmp_path, "liberty", train=True)
    with pytest.raises(ValueError, match="unknown PhotoTour scene"):
        phototour(tmp_path, "paris", train=True)
