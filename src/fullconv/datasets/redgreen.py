"""Red-green boxes: which colour is on the left, told by position (the paper's border-handling table).

Each 32×32 RGB image is black with a red (channel 0) and a green (channel 1) 4×4 box.
Class 0: red left of green, both in the upper band (y = 7 + jitter). Class 1: green left of red,
both in the lower band (y = 23 + jitter). Every box has its own integer jitter from
``[jitter_low, jitter_high]``; the left box's x is uniform in ``[0, left_max)``, the right box's
uniform in ``[left + gap, size - box)``, so the boxes never touch.

The *similar* test set has the training bands; the *dissimilar* set is the same test images with
the bands swapped (class 0 moved down by ``shift`` pixels, class 1 moved up). A net that reads the
colour order can solve both; a net that reads the absolute position fails on the dissimilar set.

Splits are drawn from their own seeds (``split_seed(seed, split)``) and never repeat an image of an
earlier split (train, then val, then test), unlike the paper's code whose test images were copies
of its training images. ``protocol="paper"`` reproduces that leak on purpose, to compare with the
paper's numbers: the validation and test layouts are the first ``n_val`` / ``n_test`` training
layouts (the paper's generator was re-seeded on every call, so each split began with the same
images).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .splits import SPLIT_PROTOCOLS, split_generator

SPLITS = ("train", "val", "similar", "dissimilar")
#: Splits in the order in which they are drawn; a later split never repeats an earlier one's image.
DRAW_ORDER = ("train", "val", "test")


@dataclass(frozen=True)
class RedGreenSpec:
    """Geometry and split sizes of the red-green data (the paper's values)."""

    n_train: int = 2000
    n_val: int = 1000
    n_test: int = 1000
    size: int = 32
    box: int = 4
    upper: int = 7
    lower: int = 23
    jitter_low: int = -4
    jitter_high: int = 3
    left_max: int = 10
    gap: int = 5

    @property
    def shift(self) -> int:
        """Rows between the bands: how far the dissimilar set moves each class."""
        return self.lower - self.upper

    def sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}


def draw_layouts(spec: RedGreenSpec, label: int, n: int, generator: torch.Generator) -> Tensor:
    """``n`` random layouts of class ``label``: (n, 5) int64 columns label, left x, right x,
    left-box jitter, right-box jitter."""
    left = torch.randint(0, spec.left_max, (n,), generator=generator)
    # uniform in [left + gap, size - box): scale a uniform draw by each row's own range
    span = spec.size - spec.box - (left + spec.gap)
    right = left + spec.gap + (torch.rand(n, generator=generator, dtype=torch.float64) * span).long()
    jitter = torch.randint(spec.jitter_low, spec.jitter_high + 1, (n, 2), generator=generator)
    return torch.stack([torch.full((n,), label), left, right, jitter[:, 0], jitter[:, 1]], dim=1)


def _layout_keys(layouts: Tensor) -> Tensor:
    """One integer per layout (equal keys <=> equal images): (n,) int64."""
    key = torch.zeros(len(layouts), dtype=torch.int64)
    for column in layouts.T:
        key = key * 64 + (column + 32)
    return key


def split_layouts(spec: RedGreenSpec, seed: int, split: str, protocol: str = "disjoint") -> Tensor:
    """Layouts of ``split`` ("train", "val" or "test"): (n, 5), none repeating an earlier split's.

    Labels alternate 0, 1, 0, … so the classes are balanced. ``protocol="paper"``: "val" and
    "test" are the first n training layouts instead (module docstring).
    """
    if split not in DRAW_ORDER:
        raise ValueError(f"unknown red-green split {split!r}; choose one of: {', '.join(DRAW_ORDER)}")
    if protocol not in SPLIT_PROTOCOLS:
        raise ValueError(f"unknown split_protocol {protocol!r}; choose one of: {', '.join(SPLIT_PROTOCOLS)}")
    if protocol == "paper" and split != "train":
        n = spec.sizes()[split]
        if n > spec.n_train:
            raise ValueError(f"split_protocol=paper takes the {split} images from the training images: "
                             f"n_{split}={n} must be at most n_train={spec.n_train}")
        return split_layouts(spec, seed, "train")[:n]
    taken = torch.zeros(0, dtype=torch.int64)
    for name in DRAW_ORDER:
        n = spec.sizes()[name]
        generator = split_generator(seed, "red-green", name)
        layouts = torch.zeros(n, 5, dtype=torch.int64)
        for label in (0, 1):
            layouts[label::2] = _fresh_layouts(spec, label, len(range(label, n, 2)), taken, generator)
        if name == split:
            return layouts
        taken = torch.cat([taken, _layout_keys(layouts)])
    raise AssertionError("unreachable")


def _fresh_layouts(spec: RedGreenSpec, label: int, n: int, taken: Tensor, generator: torch.Generator) -> Tensor:
    """``n`` layouts of class ``label`` whose keys are not in ``taken``: (n, 5)."""
    parts, count = [], 0
    while count < n:
        candidates = draw_layouts(spec, label, 2 * n + 16, generator)
        fresh = candidates[~torch.isin(_layout_keys(candidates), taken)]
        parts.append(fresh)
        count += len(fresh)
    return torch.cat(parts)[:n]


def render(spec: RedGreenSpec, layouts: Tensor, swap_bands: bool = False) -> tuple[Tensor, Tensor]:
    """Images of ``layouts`` (n, 5): x (n, 3, size, size) float32 in {0, 1}, y (n,) int64.

    ``swap_bands`` moves class 0 down and class 1 up by ``spec.shift`` rows (the dissimilar set).
    """
    label, left, right, jitter_left, jitter_right = layouts.T
    band = torch.where(label == 0, spec.upper, spec.lower)
    if swap_bands:
        band = band + torch.where(label == 0, spec.shift, -spec.shift)
    # class 0: red on the left; class 1: green on the left
    red_x = torch.where(label == 0, left, right)
    green_x = torch.where(label == 0, right, left)
    red_y = band + torch.where(label == 0, jitter_left, jitter_right)
    green_y = band + torch.where(label == 0, jitter_right, jitter_left)
    x = torch.zeros(len(layouts), 3, spec.size, spec.size)
    x[:, 0] = _box_masks(spec, red_y, red_x)
    x[:, 1] = _box_masks(spec, green_y, green_x)
    return x, label.clone()


def _box_masks(spec: RedGreenSpec, top: Tensor, left: Tensor) -> Tensor:
    """(n, size, size) float32 masks of box×box squares with top-left corners (top, left)."""
    grid = torch.arange(spec.size)
    rows = (grid >= top[:, None]) & (grid < top[:, None] + spec.box)
    cols = (grid >= left[:, None]) & (grid < left[:, None] + spec.box)
    return (rows[:, :, None] & cols[:, None, :]).float()


def red_green(spec: RedGreenSpec, seed: int, split: str, protocol: str = "disjoint") -> tuple[Tensor, Tensor]:
    """The images of ``split`` (one of :data:`SPLITS`) under root seed ``seed`` and split ``protocol``.

    Returns:
        x: (N, 3, size, size) float32 in {0, 1}; y: (N,) int64 (0: red left and up, 1: green left and down).

    Example:
        >>> x, y = red_green(RedGreenSpec(n_train=4, n_val=2, n_test=2), seed=0, split="dissimilar")
        >>> tuple(x.shape), y.tolist()
        ((2, 3, 32, 32), [0, 1])
    """
    if split not in SPLITS:
        raise ValueError(f"unknown red-green split {split!r}; choose one of: {', '.join(SPLITS)}")
    source = "test" if split in ("similar", "dissimilar") else split
    return render(spec, split_layouts(spec, seed, source, protocol), swap_bands=split == "dissimilar")
