"""Fashion-MNIST from the offline Debian package ``dataset-fashion-mnist``.

The package installs gzipped idx files under ``/usr/share/datasets/fashion-mnist``; torchvision's
``FashionMNIST(root, download=False)`` reads them once they are decompressed into
``root/FashionMNIST/raw``. :func:`fashion_mnist_root` does that once into a cache folder.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import torch

from ..utils.io import atomic_write_bytes

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def default_cache() -> Path:
    return Path(os.environ.get("FULLCONV_DATA", Path.home() / ".cache" / "fullconv"))


def fashion_mnist_root(source: Path | str | None = None, cache: Path | str | None = None) -> Path:
    """Folder that torchvision's ``FashionMNIST(root, download=False)`` reads.

    Args:
        source: folder with the four ``*-ubyte.gz`` (or decompressed) files; default the Debian
            package's ``/usr/share/datasets/fashion-mnist`` or ``$FULLCONV_FASHION_MNIST``.
        cache: where ``FashionMNIST/raw`` is written; default ``$FULLCONV_DATA`` or ~/.cache/fullconv.
    """
    source = Path(source or os.environ.get("FULLCONV_FASHION_MNIST", SYSTEM_DIR))
    root = Path(cache) if cache is not None else default_cache()
    raw = root / "FashionMNIST" / "raw"
    for name in FILES:
        target = raw / name
        if target.exists():
            continue
        packed, plain = source / (name + ".gz"), source / name
        if not packed.exists() and not plain.exists():
            raise FileNotFoundError(
                f"Fashion-MNIST file {name}(.gz) not found in {source}; install it with "
                f"'apt-get install dataset-fashion-mnist' or set FULLCONV_FASHION_MNIST to its folder")
        raw.mkdir(parents=True, exist_ok=True)
        with (gzip.open(packed, "rb") if packed.exists() else open(plain, "rb")) as src:
            atomic_write_bytes(target, src.read())
    return root


def load_fashion_mnist(train: bool = True, source: Path | str | None = None,
                       cache: Path | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All images and labels of one Fashion-MNIST split.

    Returns:
        images (N, 28, 28) uint8 and labels (N,) int64; N = 60000 (train) or 10000 (test).
    """
    from torchvision.datasets import FashionMNIST

    data = FashionMNIST(str(fashion_mnist_root(source, cache)), train=train, download=False)
    return data.data, data.targets
