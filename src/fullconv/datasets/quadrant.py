"""The Quadrant data set (Kayhan & van Gemert 2020, §4.2): where on a black canvas is the image?

An ``item``×``item`` image lies on a black ``canvas``×``canvas`` canvas, either at the upper-left
corner (label 0, the paper's class 1: rows and columns ``0..item-1``) or at the bottom-right corner
(label 1, the paper's class 2: rows and columns ``canvas-item..canvas-1``). Every image appears in
both classes, so only the location tells the classes apart. The paper's size is a 56-px image on
a 120-px canvas (offset 64).

A frame of ``frame`` pixels on each side is added in pixel space, before normalisation, in
black or in the normalisation mean (which normalises to exactly 0). Inputs are built per item, so
the framed set (1144×1144 per image at frame 512) is never held in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..utils.canvas import place_on_canvas
from ..utils.constants import IMAGENET_MEAN, IMAGENET_STD
from .images import ImageSet, load_images
from .splits import SPLIT_PROTOCOLS

FRAME_COLOURS = ("black", "mean")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class QuadrantGeometry:
    """Image size ``item`` and canvas size ``canvas`` (pixels); class 2 is offset by ``canvas - item``."""

    item: int = 56
    canvas: int = 120

    def __post_init__(self) -> None:
        if not 0 < self.item < self.canvas:
            raise ValueError(f"quadrant geometry needs 0 < item < canvas; got item={self.item}, canvas={self.canvas}")

    @property
    def offset(self) -> int:
        """Shift between the two classes along each axis."""
        return self.canvas - self.item

    def corner(self, label: int) -> int:
        """Row (= column) of the image's first pixel on the canvas for class ``label`` (0 or 1)."""
        return self.offset * int(label)


def quadrant_images(source: str, sizes: Sequence[int], item: int, seed: int,
                    protocol: str = "disjoint") -> dict[str, ImageSet]:
    """Disjoint train/val/test image sets of ``sizes`` from ``source`` (see :mod:`fullconv.datasets.images`).

    All ``sum(sizes)`` images are distinct (no two share their pixels) and each goes to one split
    only; the paper's code built its three sets from the same images. ``protocol="paper"``
    reproduces that on purpose: every split is the head of one pool of ``max(sizes)`` images.

    Returns:
        split name -> :class:`ImageSet` with images (n, 3, item, item).
    """
    if len(sizes) != len(SPLITS) or min(sizes) < 1:
        raise ValueError(f"need {len(SPLITS)} positive split sizes (train, val, test); got {tuple(sizes)}")
    if protocol not in SPLIT_PROTOCOLS:
        raise ValueError(f"unknown split_protocol {protocol!r}; choose one of: {', '.join(SPLIT_PROTOCOLS)}")
    if protocol == "paper":
        pool = load_images(source, max(sizes), item, seed)
        return {name: ImageSet(pool.images[:n], pool.ids[:n]) for name, n in zip(SPLITS, sizes)}
    pool = load_images(source, sum(sizes), item, seed)
    bounds = torch.tensor((0,) + tuple(sizes)).cumsum(0).tolist()
    return {name: ImageSet(pool.images[bounds[i]:bounds[i + 1]], pool.ids[bounds[i]:bounds[i + 1]])
            for i, name in enumerate(SPLITS)}


def frame_value(colour: str, mean: Sequence[float] = IMAGENET_MEAN) -> Tensor:
    """Pixel value (C,) of a frame of ``colour`` (black, or the normalisation mean)."""
    if colour not in FRAME_COLOURS:
        raise ValueError(f"unknown frame colour {colour!r}; choose one of: {', '.join(FRAME_COLOURS)}")
    return torch.zeros(len(mean)) if colour == "black" else torch.tensor(mean, dtype=torch.float32)


class QuadrantCanvas(Dataset):
    """Every image of ``images`` in both classes, framed and normalised on the fly.

    Item ``i`` is image ``i mod N`` with label ``i // N`` (0: upper-left, 1: bottom-right).

    Args:
        images: (N, C, item, item) in [0, 1]; their size sets ``geometry.item``.
        canvas: canvas size in pixels (the black area the image is placed on).
        frame: pixels added on each side of the canvas.
        frame_colour: ``black`` or ``mean``.
        mean, std: per-channel normalisation, applied after the frame is added.

    Shape:
        - item: ((C, canvas + 2·frame, canvas + 2·frame), label)
    """

    def __init__(self, images: Tensor, canvas: int, frame: int = 0, frame_colour: str = "black",
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
            raise ValueError(f"images must be (N, C, S, S) squares; got shape {tuple(images.shape)}")
        if frame < 0:
            raise ValueError(f"frame must be >= 0 pixels; got {frame}")
        self.images = images
        self.geometry = QuadrantGeometry(item=images.shape[-1], canvas=canvas)
        self.frame = int(frame)
        self.frame_colour = frame_value(frame_colour, mean)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    @property
    def size(self) -> int:
        """Side of the network input: canvas plus the frame on both sides."""
        return self.geometry.canvas + 2 * self.frame

    def __len__(self) -> int:
        return 2 * len(self.images)

    def pixels(self, index: int) -> tuple[Tensor, int]:
        """Item ``index`` in pixel space, before normalisation: ((C, size, size) in [0, 1], label)."""
        image, label = self.images[index % len(self.images)], index // len(self.images)
        corner = self.geometry.corner(label)
        # in the frame colour's dtype (float32), whatever the images' dtype
        canvas = place_on_canvas(image[None].to(self.frame_colour.dtype), (self.geometry.canvas,) * 2, (corner, corner))
        return place_on_canvas(canvas, (self.size,) * 2, (self.frame, self.frame), self.frame_colour)[0], label

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        pixels, label = self.pixels(index)
        return (pixels - self.mean) / self.std, label
