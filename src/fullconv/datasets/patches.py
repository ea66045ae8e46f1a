"""Matching patches: offline ones warped from Fashion-MNIST mosaics, and the Brown/PhotoTour reader.

Both give what a descriptor experiment needs: training pairs ``(T, 2, 32, 32)`` uint8 (two views of
one 3-D point or scene location; HardNet takes its negatives from the other pairs of a batch) and
test patches ``(N, 1, 32, 32)`` uint8 with ``(P, 3)`` int64 pairs ``(i, j, match)`` into them.

Offline patches: the images of one Fashion-MNIST split are tiled into a mosaic "scene"; a point is
a textured location of it (patches of flat background are skipped, as a keypoint detector would);
each view of a point samples 32×32 pixels around it under its own small random affine warp
(rotation, anisotropic scale, shear, shift), then a contrast and brightness change and noise. Train
and test scenes come from the Fashion-MNIST train and test images, so they share no image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .splits import split_generator

PATCH = 32
PHOTOTOUR_SCENES = ("liberty", "notredame", "yosemite")


@dataclass(frozen=True)
class PatchPairs:
    """Test patches and the pairs to classify: ``patches`` (N, 1, 32, 32) uint8, ``pairs`` (P, 3) int64 (i, j, match)."""

    patches: Tensor
    pairs: Tensor


@dataclass(frozen=True)
class WarpConfig:
    """How far two views of a point differ (angles in degrees, lengths in scene pixels)."""

    rotation: float = 15.0
    scale: float = 0.15           # log-uniform in [1/(1+s), 1+s] per axis
    shear: float = 0.1
    shift: float = 2.0
    contrast: float = 0.25        # log-uniform in [1/(1+c), 1+c]
    brightness: float = 0.1       # of the full range
    noise: float = 0.02           # standard deviation, of the full range
    min_std: float = 0.15         # skip points whose patch is flatter than this (full range = 1)


def mosaic(images: Tensor, side: int) -> Tensor:
    """Tile ``side²`` images (K >= side², H, W) into one (side·H, side·W) float scene in [0, 1]."""
    k, h, w = images.shape
    if k < side * side:
        raise ValueError(f"a {side}×{side} mosaic needs {side * side} images, got {k}")
    tiles = images[: side * side].float().div(255).reshape(side, side, h, w)
    return tiles.permute(0, 2, 1, 3).reshape(side * h, side * w)


def _affine(n: int, cfg: WarpConfig, generator: torch.Generator) -> Tensor:
    """(n, 2, 3) random affine maps from patch offsets to scene offsets (pixels)."""
    def uniform(bound: float) -> Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * bound

    angle = uniform(math.radians(cfg.rotation))
    scale_x, scale_y = uniform(math.log1p(cfg.scale)).exp(), uniform(math.log1p(cfg.scale)).exp()
    shear = uniform(cfg.shear)
    cos, sin = angle.cos(), angle.sin()
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    shape = torch.zeros(n, 2, 2)
    shape[:, 0, 0], shape[:, 0, 1], shape[:, 1, 1] = scale_x, shear, scale_y
    shift = torch.stack([uniform(cfg.shift), uniform(cfg.shift)], 1)
    return torch.cat([rotation @ shape, shift[:, :, None]], 2)


def sample_views(scene: Tensor, centres: Tensor, views: int, cfg: WarpConfig,
                 generator: torch.Generator) -> Tensor:
    """Warped, photometrically changed views of every point.

    Args:
        scene: (H, W) float in [0, 1].
        centres: (P, 2) float (x, y) pixel coordinates.
        views: views per point.

    Returns:
        (P, views, 32, 32) float.
    """
    h, w = scene.shape
    n = centres.shape[0] * views
    maps = _affine(n, cfg, generator)
    offsets = torch.arange(PATCH, dtype=torch.float32) - (PATCH - 1) / 2
    grid_y, grid_x = torch.meshgrid(offsets, offsets, indexing="ij")
    local = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], -1).reshape(-1, 3)      # (32², 3)
    points = torch.einsum("nij,kj->nki", maps, local) + centres.repeat_interleave(views, 0)[:, None, :]
    size = torch.tensor([w, h], dtype=torch.float32)
    grid = (2 * points + 1) / size - 1                                                     # align_corners=False
    # one tall sampling grid: no copy of the scene per view
    sampled = F.grid_sample(scene[None, None], grid.reshape(1, n * PATCH, PATCH, 2), mode="bilinear",
                            padding_mode="zeros", align_corners=False).reshape(n, PATCH, PATCH)
    contrast = ((torch.rand(n, 1, 1, generator=generator) * 2 - 1) * math.log1p(cfg.contrast)).exp()
    brightness = (torch.rand(n, 1, 1, generator=generator) * 2 - 1) * cfg.brightness
    noise = torch.randn(n, PATCH, PATCH, generator=generator) * cfg.noise
    mean = sampled.mean(dim=(1, 2), keepdim=True)
    changed = (sampled - mean) * contrast + mean + brightness + noise
    return changed.reshape(centres.shape[0], views, PATCH, PATCH)


def textured_points(scene: Tensor, n: int, cfg: WarpConfig, generator: torch.Generator) -> Tensor:
    """(n, 2) centres (x, y) of 32×32 scene windows with a standard deviation of at least ``cfg.min_std``."""
    h, w = scene.shape
    margin = PATCH
    found, total = [], 0
    for _ in range(100):
        candidates = torch.rand(4 * n, 2, generator=generator)
        candidates = candidates * torch.tensor([w - 2 * margin, h - 2 * margin]) + margin
        corner = candidates.round().long() - PATCH // 2
        rows = corner[:, 1, None] + torch.arange(PATCH)
        cols = corner[:, 0, None] + torch.arange(PATCH)
        windows = scene[rows[:, :, None], cols[:, None, :]]
        keep = candidates[windows.flatten(1).std(dim=1) >= cfg.min_std]
        found.append(keep)
        total += len(keep)
        if total >= n:
            return torch.cat(found)[:n]
    raise ValueError(f"the scene has too few textured places for {n} points at min_std={cfg.min_std}; "
                     f"lower min_std or use a larger scene")


def to_uint8(x: Tensor) -> Tensor:
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


def synthetic_views(images: Tensor, n_points: int, views: int, seed: int, split: str,
                    cfg: WarpConfig = WarpConfig(), side: int = 16) -> Tensor:
    """``views`` views of ``n_points`` points of mosaics of ``images``: (n_points, views, 32, 32) uint8.

    Points are spread over as many ``side``×``side`` mosaics of consecutive images as the images
    allow (one mosaic per 2000 points at most), so larger requests see more of the images.
    """
    generator = split_generator(seed, "patches", split)
    n_scenes = max(1, min(len(images) // (side * side), math.ceil(n_points / 2000)))
    per_scene = [len(part) for part in torch.arange(n_points).tensor_split(n_scenes)]
    parts = []
    for s, count in enumerate(per_scene):
        scene = mosaic(images[s * side * side:(s + 1) * side * side], side)
        centres = textured_points(scene, count, cfg, generator)
        parts.append(to_uint8(sample_views(scene, centres, views, cfg, generator)))
    return torch.cat(parts)


def synthetic_training_pairs(images: Tensor, n_pairs: int, seed: int, cfg: WarpConfig = WarpConfig()) -> Tensor:
    """``n_pairs`` (anchor, positive) pairs of distinct points: (n_pairs, 2, 32, 32) uint8."""
    return synthetic_views(images, n_pairs, 2, seed, "train", cfg)


def synthetic_test_pairs(images: Tensor, n_pairs: int, seed: int, cfg: WarpConfig = WarpConfig()) -> PatchPairs:
    """Half matching, half non-matching pairs over ``n_pairs`` points with two views each.

    Pair k < n/2 matches view 0 and view 1 of point k; the others pair view 0 of one point with
    view 1 of another (a random derangement), like the 100k-pair lists of Brown et al.
    """
    views = synthetic_views(images, n_pairs, 2, seed, "test", cfg)
    patches = views.reshape(-1, 1, PATCH, PATCH)                      # point p: rows 2p, 2p+1
    n_pos = n_pairs // 2
    generator = split_generator(seed, "patches", "test-pairs")
    first = torch.arange(n_pos, n_pairs)
    other = first[(torch.arange(len(first)) + 1 + torch.randint(len(first) - 1, (len(first),), generator=generator))
                  % len(first)]
    pos = torch.stack([2 * torch.arange(n_pos), 2 * torch.arange(n_pos) + 1, torch.ones(n_pos, dtype=torch.long)], 1)
    neg = torch.stack([2 * first, 2 * other + 1, torch.zeros(len(first), dtype=torch.long)], 1)
    return PatchPairs(patches, torch.cat([pos, neg]))


# ----------------------------------------------------------------------------- Brown / PhotoTour

def phototour(root: Path | str, name: str, train: bool):
    """torchvision's ``PhotoTour(root, name, train, download=False)``, with a clear error when missing."""
    from torchvision.datasets import PhotoTour

    if name not in PHOTOTOUR_SCENES:
        raise ValueError(f"unknown PhotoTour scene {name!r}; choose one of: {', '.join(PHOTOTOUR_SCENES)}")
    root = Path(root)
    if not (root / f"{name}.pt").exists() and not (root / name).is_dir():
        raise FileNotFoundError(
            f"PhotoTour scene {name!r} not found in {root}: expected {name}.pt or the folder {name}/ of "
            f"torchvision's PhotoTour layout; download it (e.g. PhotoTour(root, {name!r}, download=True) "
            f"on a machine with internet) and pass its folder with --data")
    return PhotoTour(str(root), name, train=train, download=False)


def _shrink(patches: Tensor) -> Tensor:
    """64×64 uint8 PhotoTour patches (N, 64, 64) -> (N, 1, 32, 32) uint8 by 2×2 averaging."""
    return F.avg_pool2d(patches[:, None].float(), 2).round().to(torch.uint8)


def phototour_training_pairs(root: Path | str, name: str, n_pairs: int, seed: int) -> Tensor:
    """``n_pairs`` (anchor, positive) pairs of one scene: (n_pairs, 2, 32, 32) uint8.

    Each pair is two distinct patches of one 3-D point; points are drawn uniformly among those
    with at least two patches, as in HardNet's ``generate_triplets``.
    """
    data = phototour(root, name, train=True)
    labels = data.labels.long()
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    starts = torch.cumsum(counts, 0) - counts
    points = torch.nonzero(counts >= 2).flatten()
    generator = split_generator(seed, "phototour-pairs", name)
    chosen = points[torch.randint(len(points), (n_pairs,), generator=generator)]
    size = counts[chosen]
    first = torch.floor(torch.rand(n_pairs, generator=generator) * size).long()
    second = (first + 1 + torch.floor(torch.rand(n_pairs, generator=generator) * (size - 1)).long()) % size
    index = torch.stack([order[starts[chosen] + first], order[starts[chosen] + second]], 1)
    return _shrink(data.data[index.flatten()]).reshape(n_pairs, 2, PATCH, PATCH)


def phototour_test_pairs(root: Path | str, name: str) -> PatchPairs:
    """The standard 100k pairs of a scene (``m50_100000_100000_0.txt``) and the patches they use."""
    data = phototour(root, name, train=False)
    matches = data.matches.long()
    used, inverse = torch.unique(matches[:, :2], return_inverse=True)
    pairs = torch.cat([inverse, matches[:, 2:].clamp(0, 1)], 1)
    return PatchPairs(_shrink(data.data[used]), pairs)
