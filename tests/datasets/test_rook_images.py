"""Rook images: identical glyphs in opposite corners."""
from __future__ import annotations

import pytest
import torch

from fullconv.datasets.rook import rook_glyph, rook_images


def test_two_classes_hold_the_same_patch_in_opposite_corners():
    x, y = rook_images(32, 12)
    assert x.shape == (2, 1, 32, 32) and y.tolist() == [0, 1]
    assert torch.equal(x[0, 0, :12, :12], x[1, 0, 20:, 20:])
    assert x[0, 0, 12:, :].abs().sum() == 0 and x[0, 0, :, 12:].abs().sum() == 0
    assert torch.equal(x[0].sum(), x[1].sum())


def test_glyph_is_a_gray_rook_not_symmetric_top_to_bottom():
    patch = rook_glyph(12)
    assert 0 <= patch.min() and patch.max() == 1.0
    assert ((patch > 0) & (patch < 1)).any()           # antialiased edges
    assert torch.equal(patch, patch.flip(1))            # a rook is symmetric left to right
    assert not torch.equal(patch, patch.flip(0))        # but not top to bottom
    assert patch[0].sum() < patch[-1].sum() or patch[0].sum() != patch[-1].sum()


def test_patch_larger_than_image_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        rook_images(8, 12)
