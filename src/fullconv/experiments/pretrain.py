"""Backbones of the canvas experiments: building, pretrained weights, and ``fullconv pretrain``.

Architectures, by their names in :func:`fullconv.models.create`: ``resnet18`` and ``densenet121``
(torchvision), ``bagnet33`` and ``resnet18-w<W>`` (fullconv's zoo: ResNet-18's stages and strides,
total stride 32, at width ``W`` with a 3×3 stem, small enough to train on a CPU).

ImageNet weights come from torchvision's weights enum when its file is already in the local torch
cache (nothing is downloaded), or from a state_dict file. Offline, ``fullconv pretrain`` trains a
backbone on Fashion-MNIST classification instead and saves its state_dict; such a backbone is
"pretrained (Fashion-MNIST)", never ImageNet. It trains on the Fashion-MNIST *test* split, so it
never sees the training images that the canvas experiments draw their items from.
"""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torchvision

from ..datasets.images import resize
from ..datasets.splits import split_generator
from ..models import create
from ..models.bagnet import state_dict_mismatch
from ..training import InMemory, TrainConfig, evaluate, fit, save_checkpoint
from ..utils.canvas import place_each
from ..utils.constants import IMAGENET_MEAN, IMAGENET_STD

ARCHS = ("resnet18", "densenet121", "bagnet33", "resnet18-w<W>")
#: torchvision weights enum member of each architecture that has ImageNet weights there.
TORCHVISION_WEIGHTS = {"resnet18": "ResNet18_Weights.IMAGENET1K_V1", "densenet121": "DenseNet121_Weights.IMAGENET1K_V1"}
_NARROW = re.compile(r"resnet18-w(\d+)$")


def check_arch(arch: str) -> str:
    if arch in ARCHS[:3] or _NARROW.match(arch):
        return arch
    raise ValueError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)} (e.g. resnet18-w16)")


def head_name(arch: str) -> str:
    """Attribute of the final linear layer."""
    return "classifier" if check_arch(arch) == "densenet121" else "fc"


def total_stride(arch: str) -> int:
    """Product of all strides: shifts by its multiples move every feature map by whole steps."""
    return 8 if check_arch(arch) == "bagnet33" else 32


def torchvision_cache_file(arch: str) -> Path | None:
    """Where torchvision keeps the ImageNet weights of ``arch`` (None if it has none)."""
    if arch not in TORCHVISION_WEIGHTS:
        return None
    enum_name, member = TORCHVISION_WEIGHTS[arch].split(".")
    url = getattr(getattr(torchvision.models, enum_name), member).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def state_file(arch: str, weights: Path) -> dict[str, torch.Tensor]:
    """The state_dict in ``weights``: a file, or a folder holding ``<arch>.pth``."""
    path = Path(weights)
    path = path / f"{arch}.pth" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found; pass --weights with a state_dict file of {arch} "
                                f"(or a folder holding {arch}.pth)")
    return torch.load(path, map_location="cpu", weights_only=True)


def imagenet_state(arch: str, weights: Path | None) -> dict[str, torch.Tensor]:
    """ImageNet weights of ``arch``: from ``weights`` (see :func:`state_file`), else from the torch cache."""
    if weights is not None:
        return state_file(arch, weights)
    cached = torchvision_cache_file(arch)
    if cached is not None and cached.is_file():
        enum_name, member = TORCHVISION_WEIGHTS[arch].split(".")
        enum = getattr(getattr(torchvision.models, enum_name), member)
        return getattr(torchvision.models, arch)(weights=enum).state_dict()  # read from the cache
    where = f"the torch cache ({cached})" if cached is not None else "torchvision (it has no weights enum for it)"
    raise FileNotFoundError(
        f"'pretrained' needs ImageNet weights of {arch}, which are not in {where}; pass --weights PATH "
        f"(a state_dict file), or use the Fashion-MNIST backbone of 'fullconv pretrain --arch {arch} --out PATH'")


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor], head: str) -> nn.Module:
    """Load every weight of ``state`` into ``model`` except those of its head ``head``; error on any mismatch."""
    state = {key.removeprefix("module."): value for key, value in state.items()}
    state = {key: value for key, value in state.items() if not key.startswith(head + ".")}
    own = {key: value for key, value in model.state_dict().items() if not key.startswith(head + ".")}
    mismatch = state_dict_mismatch(own, state)
    if mismatch:
        raise ValueError(f"backbone weights do not fit {type(model).__name__}: {mismatch}; "
                         f"use weights of the same architecture")
    model.load_state_dict(state, strict=False)
    return model


def fashion_mnist_tensors(n: int, size: int, seed: int, margin: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` Fashion-MNIST test images, normalised like the canvas inputs, and their labels (n,).

    Each ``size``-px image lies at a seeded random position on a black canvas of ``size + margin``
    pixels: like the random crops of ImageNet training, this asks for features that do not depend
    on where the object is.

    Returns:
        x (n, 3, size + margin, size + margin), y (n,).
    """
    from ..datasets.fashion_mnist import load_fashion_mnist

    images, labels = load_fashion_mnist(train=False)
    if not 0 < n <= len(images):
        raise ValueError(f"--images must be in 1..{len(images)}; got {n}")
    if margin < 0:
        raise ValueError(f"--margin must be >= 0 pixels; got {margin}")
    generator = split_generator(seed, "pretrain")
    pick = torch.randperm(len(images), generator=generator)[:n]
    corners = torch.randint(0, margin + 1, (n, 2), generator=generator).tolist()
    items = torch.stack([resize(images[i].unsqueeze(0), size) for i in pick.tolist()])
    x = place_each(items, (size + margin,) * 2, corners)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std, labels[pick]


def pretrain_fashion_mnist(arch: str, out: Path, *, images: int, size: int, epochs: int, batch_size: int,
                           lr: float, seed: int, device: torch.device | str, margin: int = 0, progress=None) -> dict:
    """Train ``arch`` on Fashion-MNIST classification and save its state_dict to ``out`` atomically.

    A tenth of the images validates (keep-best on the validation loss). Returns
    ``{"arch", "images", "size", "margin", "epochs", "val_acc"}``.
    """
    x, y = fashion_mnist_tensors(images, size, seed, margin)
    n_val = max(1, images // 10)
    torch.manual_seed(seed)
    model = create(check_arch(arch), num_classes=10)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=lr)
    out = Path(out)
    result = fit(model, InMemory(x[n_val:], y[n_val:]), InMemory(x[:n_val], y[:n_val]), cfg,
                 run_dir=out.with_name(out.name + ".run"), device=device, seed=seed, progress=progress)
    save_checkpoint(out, result.model.state_dict())
    val = evaluate(result.model, InMemory(x[:n_val], y[:n_val]), device=device, batch_size=batch_size)
    return {"arch": arch, "images": images, "size": size, "margin": margin, "epochs": epochs, "val_acc": val["acc"]}


def main(argv: Sequence[str] | None = None) -> int:
    """``fullconv pretrain --arch ARCH --out PATH``: a Fashion-MNIST backbone for ``init=pretrained``."""
    parser = argparse.ArgumentParser(prog="fullconv pretrain", description=main.__doc__)
    parser.add_argument("--arch", required=True, help=f"one of {', '.join(ARCHS)}")
    parser.add_argument("--out", required=True, type=Path, help="state_dict file to write")
    parser.add_argument("--images", type=int, default=10000, help="Fashion-MNIST test images to train on")
    parser.add_argument("--size", type=int, default=56, help="image side in pixels (the canvas item size)")
    parser.add_argument("--margin", type=int, default=16,
                        help="pixels of black canvas around each image, which lies at a random position on it")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    check_arch(args.arch)
    info = pretrain_fashion_mnist(args.arch, args.out, images=args.images, size=args.size, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                                  margin=args.margin)
    print(f"pretrained {args.arch} on Fashion-MNIST: validation accuracy {info['val_acc']:.1f} %, saved {args.out}")
    return 0
