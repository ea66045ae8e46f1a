"""Natural images for the canvas experiments, chosen by a source spec string.

Sources:

- ``fashion-mnist`` (default): the offline Fashion-MNIST training images, grey levels copied to RGB;
- ``imagenet-val:PATH``: an ImageFolder tree (``PATH/<class>/<image>``), e.g. the ImageNet 2012
  validation set that the paper used;
- ``folder:PATH``: every image file under ``PATH``, recursively.

:func:`load_images` returns ``n`` distinct images (no two with the same pixels) drawn in an order
fixed by a seed; unreadable files are skipped with a warning that names each.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .splits import split_generator

SOURCES = ("fashion-mnist", "imagenet-val:PATH", "folder:PATH")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")


@dataclass(frozen=True)
class ImageSet:
    """Images of one source: ``images`` (N, 3, size, size) float32 in [0, 1]; ``ids`` name each one."""

    images: Tensor
    ids: tuple[str, ...]


def parse_source(spec: str) -> tuple[str, Path | None]:
    """Split ``spec`` into its kind and path; raise a ValueError naming the accepted forms."""
    kind, _, path = spec.partition(":")
    if kind == "fashion-mnist" and not path:
        return kind, None
    if kind in ("imagenet-val", "folder") and path:
        return kind, Path(path).expanduser()
    raise ValueError(f"unknown image source {spec!r}; use one of: {', '.join(SOURCES)}")


def resize(image: Tensor, size: int) -> Tensor:
    """image: (C, H, W) uint8 -> (3, size, size) float32 in [0, 1] (antialiased bilinear; grey copied to RGB)."""
    x = image.unsqueeze(0).float() / 255.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x[0].clamp(0.0, 1.0).expand(3, size, size).contiguous()


def _fashion_mnist_candidates() -> tuple[int, Callable[[int], tuple[Tensor, str]]]:
    from .fashion_mnist import load_fashion_mnist

    images, _ = load_fashion_mnist(train=True)
    return len(images), lambda i: (images[i].unsqueeze(0), f"fashion-mnist:train:{i}")


def _files(kind: str, root: Path) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} not found; pass an existing folder to {kind}:PATH")
    if kind == "imagenet-val":
        pattern = "*/*"  # ImageFolder: one folder per class
        where = f"the class folders of {root} (ImageFolder layout: {root}/<class>/<image>)"
    else:
        pattern = "**/*"
        where = f"{root} or its subfolders"
    files = sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {where}; point {kind}:PATH at a folder of images")
    return files


def _read_file(path: Path) -> Tensor | None:
    """(3, H, W) uint8 of an image file, or None (with a warning naming it) when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except Exception as error:  # PIL raises many types for broken files
        warnings.warn(f"skipping unreadable image {path}: {error}", stacklevel=3)
        return None
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


def _file_candidates(kind: str, root: Path) -> tuple[int, Callable[[int], tuple[Tensor | None, str]]]:
    files = _files(kind, root)
    return len(files), lambda i: (_read_file(files[i]), str(files[i]))


def _distinct(read: Callable[[int], tuple[Tensor | None, str]], order: Tensor) -> Iterator[tuple[Tensor, str]]:
    seen: set[bytes] = set()
    for index in order.tolist():
        image, name = read(index)
        if image is None:
            continue
        digest = hashlib.sha256(image.numpy().tobytes() + str(tuple(image.shape)).encode()).digest()
        if digest not in seen:
            seen.add(digest)
            yield image, name


def load_images(spec: str, n: int, size: int, seed: int) -> ImageSet:
    """``n`` distinct images of the source ``spec``, resized to ``size``×``size``.

    The order in which candidates are tried is a permutation seeded by ``seed``, so the same
    arguments always give the same images; the first ``k`` of ``n`` images are also the images of
    a call with ``n = k``.

    Returns:
        :class:`ImageSet` with images (n, 3, size, size) in [0, 1].
    """
    kind, root = parse_source(spec)
    total, read = _fashion_mnist_candidates() if root is None else _file_candidates(kind, root)
    order = torch.randperm(total, generator=split_generator(seed, "images", spec))
    images, ids = [], []
    for image, name in _distinct(read, order):
        images.append(resize(image, size))
        ids.append(name)
        if len(images) == n:
            return ImageSet(torch.stack(images), tuple(ids))
    raise ValueError(f"source {spec!r} has only {len(images)} distinct readable images, {n} are needed; "
                     f"use a larger source or fewer images")
