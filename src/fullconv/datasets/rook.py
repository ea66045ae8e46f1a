"""The rook patch: one chess-rook glyph at the upper-left (class 0) or bottom-right (class 1) corner.

The glyph is drawn procedurally (rectangles rendered with 4× supersampling, so its edges are
gray) on a black image. The two images hold identical patches; only their position tells the
classes apart, so a net can separate them only through the image border.
"""
from __future__ import annotations

import torch
from torch import Tensor

#: The rook as rectangles (x0, y0, x1, y1) in the unit square, y pointing down.
ROOK_PARTS: tuple[tuple[float, float, float, float], ...] = (
    (0.10, 0.04, 0.30, 0.22),   # left merlon
    (0.40, 0.04, 0.60, 0.22),   # middle merlon
    (0.70, 0.04, 0.90, 0.22),   # right merlon
    (0.10, 0.22, 0.90, 0.34),   # top band
    (0.26, 0.34, 0.74, 0.72),   # body
    (0.18, 0.72, 0.82, 0.82),   # collar
    (0.06, 0.82, 0.94, 0.96),   # base
)


def rook_glyph(size: int = 12, supersample: int = 4) -> Tensor:
    """The rook glyph as a grayscale patch in [0, 1]: (size, size) float32.

    Example:
        >>> patch = rook_glyph(12)
        >>> tuple(patch.shape), float(patch.max())
        ((12, 12), 1.0)
    """
    if size < 5:
        raise ValueError(f"rook glyph size {size} is too small to draw; use at least 5 pixels")
    fine = size * supersample
    centres = (torch.arange(fine, dtype=torch.float64) + 0.5) / fine
    canvas = torch.zeros(fine, fine, dtype=torch.bool)
    for x0, y0, x1, y1 in ROOK_PARTS:
        rows = (centres >= y0) & (centres < y1)
        cols = (centres >= x0) & (centres < x1)
        canvas |= rows[:, None] & cols[None, :]
    coverage = canvas.double().reshape(size, supersample, size, supersample).mean(dim=(1, 3))
    return coverage.float()


def rook_images(image_size: int = 32, patch_size: int = 10) -> tuple[Tensor, Tensor]:
    """The two rook images: x (2, 1, image_size, image_size) float32, y (2,) int64 = [0, 1].

    Image 0 has the glyph in the upper-left corner, image 1 the same glyph in the bottom-right.
    """
    if patch_size > image_size:
        raise ValueError(f"rook patch of {patch_size} px does not fit a {image_size} px image; use a smaller patch")
    patch = rook_glyph(patch_size)
    x = torch.zeros(2, 1, image_size, image_size)
    x[0, 0, :patch_size, :patch_size] = patch
    x[1, 0, image_size - patch_size:, image_size - patch_size:] = patch
    return x, torch.tensor([0, 1])
