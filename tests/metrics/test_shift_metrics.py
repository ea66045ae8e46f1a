"""Consistency and diagonal-shift accuracy on hand-made models whose answers are known."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

from fullconv.metrics.shift import consistency, crop_at, diagonal_accuracy, paste_at


class GlobalMaxClassifier(nn.Module):
    """Pointwise features, then a global max: exactly invariant to shifts that keep the content inside."""

    def __init__(self, channels: int = 1, classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(channels, 8, 1), nn.ReLU())
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(self.features(x).amax(dim=(2, 3)))


class FixedPixelClassifier(nn.Module):
    """Class 1 when the crop's pixel (row, col) is positive, else class 0: reads an absolute place."""

    def __init__(self, row: int = 0, col: int = 0) -> None:
        super().__init__()
        self.row, self.col = row, col
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        value = self.scale * x[:, 0, self.row, self.col]
        return torch.stack([-value, value], dim=1)


def _canvas_images(n: int, size: int, margin: int) -> torch.Tensor:
    """Random content in the centre of a zero canvas, at least ``margin`` pixels from every edge."""
    generator = torch.Generator().manual_seed(1)
    images = torch.zeros(n, 1, size, size)
    images[:, :, margin:size - margin, margin:size - margin] = torch.rand(
        n, 1, size - 2 * margin, size - 2 * margin, generator=generator)
    return images


def test_crop_at_matches_slicing():
    x = torch.randn(3, 2, 10, 11)
    top, left = torch.tensor([0, 3, 5]), torch.tensor([4, 0, 6])
    out = crop_at(x, top, left, 5)
    for b in range(3):
        torch.testing.assert_close(out[b], x[b, :, top[b]:top[b] + 5, left[b]:left[b] + 5], rtol=0, atol=0)


def test_shift_invariant_model_scores_100():
    # crops of 20 at offsets in [0, 8) of a 27-px canvas keep the content rows 7..19 inside every crop
    images = _canvas_images(64, 27, 7)
    assert consistency(GlobalMaxClassifier(), images, crop=20, max_shift=8, pairs=3) == 100.0


def test_fixed_pixel_model_is_not_consistent():
    """Random signs at the read pixel: two different offsets agree half of the time."""
    images = torch.randn(400, 1, 24, 24, generator=torch.Generator().manual_seed(2))
    score = consistency(FixedPixelClassifier(4, 4), images, crop=16, max_shift=8, pairs=5,
                        generator=torch.Generator().manual_seed(3))
    expected = 100 * (0.5 + 0.5 / 64)  # same offsets (probability 1/64) always agree
    assert abs(score - expected) < 5.0


def test_consistency_depends_on_generator_not_batching():
    images = torch.randn(50, 1, 20, 20, generator=torch.Generator().manual_seed(4))
    model = FixedPixelClassifier(2, 3)
    scores = {consistency(model, images, 12, 8, pairs=2, generator=torch.Generator().manual_seed(5),
                          batch_size=b) for b in (7, 50)}
    dataset_score = consistency(model, TensorDataset(images, torch.zeros(50)), 12, 8, pairs=2,
                                generator=torch.Generator().manual_seed(5), batch_size=16)
    assert scores == {dataset_score}


def test_diagonal_accuracy_of_known_model():
    """The model reads the crop's first pixel, i.e. pixel (o, o) of the image at diagonal offset o."""
    offsets, crop = 9, 6
    images = -torch.ones(4, 1, crop + offsets - 1, crop + offsets - 1)
    for o in range(3):
        images[:, 0, o, o] = 1.0
    labels = torch.ones(4, dtype=torch.long)
    mean, curve = diagonal_accuracy(FixedPixelClassifier(), images, labels, crop=crop, offsets=offsets, batch_size=3)
    assert curve == [100.0] * 3 + [0.0] * 6
    assert mean == pytest.approx(100 * 3 / 9)
    same = diagonal_accuracy(FixedPixelClassifier(), TensorDataset(images, labels), None, crop=crop, offsets=offsets)
    assert same == (mean, curve)


def test_diagonal_accuracy_flat_for_shift_invariant_model():
    images = _canvas_images(32, 27, 7)
    model = GlobalMaxClassifier()
    with torch.no_grad():
        labels = model(images[:, :, 4:24, 4:24]).argmax(dim=1)
    mean, curve = diagonal_accuracy(model, images, labels, crop=20, offsets=8)
    assert curve == [100.0] * 8 and mean == 100.0


def test_model_mode_restored_and_errors():
    model = GlobalMaxClassifier().train()
    consistency(model, _canvas_images(4, 27, 7), crop=20, max_shift=8, pairs=1)
    assert model.training
    with pytest.raises(ValueError, match="at least 27x27"):
        consistency(model, torch.zeros(2, 1, 20, 20), crop=20, max_shift=8)
    with pytest.raises(ValueError, match="one label per image"):
        diagonal_accuracy(model, torch.zeros(2, 1, 40, 40), None, crop=20)


def test_paste_at_puts_each_image_at_its_own_offset_and_crop_at_takes_it_back():
    x = torch.randn(3, 2, 4, 4)
    top, left = torch.tensor([0, 2, 3]), torch.tensor([1, 0, 3])
    canvas = paste_at(x, top, left, 9, background=-1.0)
    for i in range(3):
        inside = torch.zeros(9, 9, dtype=torch.bool)
        inside[top[i]:top[i] + 4, left[i]:left[i] + 4] = True
        assert torch.equal(canvas[i][:, inside].view(2, 4, 4), x[i])
        assert (canvas[i][:, ~inside] == -1.0).all()
    assert torch.equal(crop_at(canvas, top, left, 4), x)
