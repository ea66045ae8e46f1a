"""Fashion-MNIST items on a black canvas: for image-shift tests that never push content out of view,
and (``placed``) at a seeded random position per item.

Items are resized to ``item`` pixels (28: Fashion-MNIST's own size; 14 makes a CPU run 4× cheaper).
A network sees ``crop × crop`` inputs with ``crop = item + max_shift``. Training and validation
images are such crops with the item near the centre (``train_jitter`` pixels of random
translation; training items also flipped at random). Test images are larger canvases,
``crop + max_shift`` pixels wide with the item in the middle, so that every crop at offsets
``0 .. max_shift`` along each axis contains the whole item on black: the shift metrics then
measure how the network reacts to where the item sits, not to losing part of it.

Train and validation items are disjoint draws from the Fashion-MNIST training set, test items
come from its test set; every split has its own seed (``split_seed(root, name)``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ..utils.canvas import place_each
from .fashion_mnist import load_fashion_mnist
from .splits import disjoint_indices, split_generator


@dataclass(frozen=True)
class ShiftCanvas:
    """Geometry: item side, the network's input side ``crop`` and the test canvas side ``canvas``."""

    max_shift: int = 8
    train_jitter: int = 2
    item: int = 28

    def __post_init__(self) -> None:
        if self.max_shift < 1 or not 0 <= self.train_jitter <= self.max_shift // 2 or self.item < 4:
            raise ValueError(f"need max_shift >= 1, 0 <= train_jitter <= max_shift // 2 and item >= 4; got "
                             f"max_shift={self.max_shift}, train_jitter={self.train_jitter}, item={self.item}")

    @property
    def crop(self) -> int:
        return self.item + self.max_shift

    @property
    def canvas(self) -> int:
        return self.crop + self.max_shift


def place(items: Tensor, size: int, top: Tensor, left: Tensor) -> Tensor:
    """Put each item on a black canvas.

    Args:
        items: (N, h, w) float32 in [0, 1].
        size: canvas side.
        top, left: (N,) positions of the items' upper-left pixels.

    Returns:
        (N, 1, size, size) float32 in [0, 1].
    """
    return place_each(items[:, None], (size, size), torch.stack([top, left], 1))


class PlacedItems(Dataset):
    """Items (N, h, w) uint8 with labels (N,), each at its own fixed position on a black ``canvas``.

    Canvases are built when asked for, never stored. ``positions`` (N, 2) hold each item's (top,
    left), drawn once for the whole pool, so an image sits at the same place in every subset.
    """

    def __init__(self, items: Tensor, labels: Tensor, canvas: int, positions: Tensor) -> None:
        self.items, self.labels, self.canvas, self.positions = items, labels, canvas, positions

    def __len__(self) -> int:
        return len(self.items)

    def take(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        """The items at ``indices`` on their canvases: x (len(indices), 1, canvas, canvas) in [0, 1], y (len(indices),)."""
        top, left = self.positions[indices].unbind(1)
        return place(self.items[indices].float() / 255, self.canvas, top, left), self.labels[indices]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        x, y = self.take(torch.tensor([index]))
        return x[0], y[0]


def placed(items: Tensor, labels: Tensor, canvas: int, seed: int, split: str) -> PlacedItems:
    """``items`` at uniformly random positions (seeded by ``seed`` and ``split``) on a ``canvas``-px canvas."""
    room = canvas - items.shape[-1]
    positions = torch.randint(0, room + 1, (len(items), 2), generator=split_generator(seed, "canvas", split))
    return PlacedItems(items, labels, canvas, positions)


def resize_items(items: Tensor, side: int) -> Tensor:
    """items: (N, h, w) uint8 -> (N, side, side) float32 in [0, 1] (antialiased bilinear)."""
    x = items.float().unsqueeze(1) / 255.0
    if x.shape[-1] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False).clamp(0.0, 1.0)
    return x[:, 0]


def shifted_fashion_mnist(geometry: ShiftCanvas, sizes: dict[str, int], root_seed: int,
                          source: str | None = None) -> dict[str, tuple[Tensor, Tensor]]:
    """Splits ``train``, ``val`` (crops of side ``geometry.crop``) and ``test`` (canvases of side ``geometry.canvas``).

    Args:
        sizes: items per split, e.g. ``{"train": 6000, "val": 1000, "test": 1000}``.
        root_seed: seeds every split through ``split_seed(root_seed, name)``.
        source: folder of the Fashion-MNIST files (default: the offline Debian package).

    Returns:
        ``{split: (images (N, 1, S, S) float32 in [0, 1], labels (N,) int64)}``.
    """
    unknown = set(sizes) - {"train", "val", "test"}
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; use train, val and test")
    train_images, train_labels = load_fashion_mnist(train=True, source=source)
    out = {}
    picked = disjoint_indices(len(train_images), {k: sizes[k] for k in ("train", "val") if k in sizes}, root_seed,
                              pool="shifted-fashion-mnist")
    centre = geometry.max_shift // 2
    for name, index in picked.items():
        generator = split_generator(root_seed, "shifted-fashion-mnist", name)
        items = resize_items(train_images[index], geometry.item)
        jitter = geometry.train_jitter if name == "train" else 0
        top, left = torch.randint(centre - jitter, centre + jitter + 1, (2, len(items)), generator=generator)
        if name == "train":
            flip = torch.rand(len(items), generator=generator) < 0.5
            items = torch.where(flip[:, None, None], items.flip(-1), items)
        out[name] = (place(items, geometry.crop, top, left), train_labels[index])
    if "test" in sizes:
        test_images, test_labels = load_fashion_mnist(train=False, source=source)
        index = disjoint_indices(len(test_images), {"test": sizes["test"]}, root_seed, pool="shifted-fashion-mnist-test")["test"]
        middle = torch.full((len(index),), geometry.max_shift)
        out["test"] = (place(resize_items(test_images[index], geometry.item), geometry.canvas, middle, middle), test_labels[index])
    return out
