"""Moving items: a small synthetic video data set made on the fly.

Each clip shows one Fashion-MNIST item moving over a smooth random texture; the class is the
motion pattern (right, left, down, up, clockwise or anticlockwise circle), not the item. Start
position, speed, radius, item and texture are random, so neither the item nor where it is
tells the class: only how it moves does.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .fashion_mnist import load_fashion_mnist
from .splits import disjoint_indices, split_generator

#: Class names, in label order.
MOTIONS: tuple[str, ...] = ("right", "left", "down", "up", "clockwise", "anticlockwise")


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def trajectory(motion: int, frames: int, room: int, generator: torch.Generator) -> Tensor:
    """Top-left corners (frames, 2) as (row, col) of an item moving by ``motion`` inside [0, room].

    Linear motions move 0.6-1.2 pixels a frame (less if the canvas is too small); circles have a
    random radius and turn by 0.6-1 revolution over the clip.
    """
    t = torch.arange(frames, dtype=torch.float64)
    if motion < 4:
        speed = min(_uniform(generator, 0.6, 1.2), room / max(frames - 1, 1))
        travel = speed * (frames - 1)
        along = _uniform(generator, 0, room - travel) + speed * t
        across = torch.full_like(t, _uniform(generator, 0, room))
        if motion in (1, 3):  # left, up: run backwards
            along = along.flip(0)
        rows, cols = (across, along) if motion < 2 else (along, across)
    else:
        radius = _uniform(generator, 0.25, 0.45) * room
        centre_row, centre_col = (_uniform(generator, radius, room - radius) for _ in range(2))
        turn = 2 * math.pi * _uniform(generator, 0.6, 1.0) / max(frames - 1, 1)
        # Rows grow downwards, so a growing angle turns clockwise on screen.
        angle = _uniform(generator, 0, 2 * math.pi) + (turn if motion == 4 else -turn) * t
        rows, cols = centre_row + radius * torch.sin(angle), centre_col + radius * torch.cos(angle)
    return torch.stack([rows, cols], dim=1).round().long()


def texture(size: int, generator: torch.Generator, cell: int = 4) -> Tensor:
    """A smooth random texture (size, size) in [0, 0.5]: bicubic upsampled noise of ``size/cell`` cells."""
    coarse = torch.rand(1, 1, size // cell + 1, size // cell + 1, generator=generator)
    fine = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)[0, 0]
    return 0.5 * fine.clamp(0, 1)


def render(item: Tensor, background: Tensor, corners: Tensor, noise: Tensor) -> Tensor:
    """Paste ``item`` (h, w) in [0, 1] over ``background`` (S, S) at ``corners`` (T, 2); returns (T, S, S).

    The item's intensity is its opacity, so its dark surround shows the texture.
    """
    frames = background.expand(corners.shape[0], -1, -1).clone()
    h, w = item.shape
    for frame, (row, col) in zip(frames, corners.tolist()):
        patch = frame[row:row + h, col:col + w]
        patch.mul_(1 - item).add_(item)
    return (frames + noise).clamp(0, 1)


def moving_items(sizes: dict[str, int], seed: int, *, frames: int = 16, size: int = 32,
                 item_size: int = 14, classes: int = len(MOTIONS), noise: float = 0.03,
                 items: Tensor | None = None) -> dict[str, tuple[Tensor, Tensor]]:
    """Clips of moving items for every split in ``sizes``; the same arguments give the same tensors.

    Args:
        sizes: clips per split, e.g. ``{"train": 240, "val": 240}``.
        seed: root seed; each split draws from its own seed and its own Fashion-MNIST items.
        frames, size: clip length T and side H = W.
        item_size: side the 28×28 items are shrunk to.
        classes: how many of :data:`MOTIONS` to use (labels 0..classes-1, balanced per split).
        noise: standard deviation of per-pixel Gaussian noise.
        items: (N, 28, 28) uint8 images to draw from; default Fashion-MNIST's training images.

    Returns:
        ``{split: (clips (N, 1, T, H, W) float32 in [0, 1], labels (N,) int64)}``.
    """
    if not 1 <= classes <= len(MOTIONS):
        raise ValueError(f"classes must be 1..{len(MOTIONS)} (one per motion of {MOTIONS}); got {classes}")
    if item_size >= size:
        raise ValueError(f"item_size {item_size} must be smaller than the clip size {size}")
    if items is None:
        items = load_fashion_mnist(train=True)[0]
    chosen = disjoint_indices(len(items), sizes, seed, pool="moving-items")
    out = {}
    for split, n in sizes.items():
        generator = split_generator(seed, "moving-items", split)
        shrunk = F.interpolate(items[chosen[split]].unsqueeze(1).float() / 255, size=item_size, mode="area")[:, 0]
        labels = (torch.arange(n) % classes)[torch.randperm(n, generator=generator)]
        clips = torch.empty(n, 1, frames, size, size)
        for i in range(n):
            corners = trajectory(int(labels[i]), frames, size - item_size, generator)
            jitter = noise * torch.randn(frames, size, size, generator=generator)
            clips[i, 0] = render(shrunk[i], texture(size, generator), corners, jitter)
        out[split] = (clips, labels)
    return out
