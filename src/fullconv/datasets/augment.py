"""Random crops of in-memory images and clips: the shift augmentation of the quick proxies.

:class:`RandomCrops` serves item ``i`` as a crop of ``x[i]`` at a random offset along every spatial
axis (after optional zero padding), optionally flipped left-right. Offsets come from torch's global
generator, which the training loop seeds per (seed, epoch), so a run is repeatable. Evaluation
uses :func:`centre_crop`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset


def _check(x: Tensor, size: Sequence[int], padding: int) -> tuple[int, ...]:
    spatial = tuple(x.shape[2:])
    size = tuple(size)
    if len(size) != len(spatial) or any(s > d + 2 * padding or s < 1 for s, d in zip(size, spatial)):
        raise ValueError(f"crop size {size} does not fit inputs of spatial size {spatial} (padding {padding})")
    return size


def centre_crop(x: Tensor, size: Sequence[int]) -> Tensor:
    """x: (N, C, *S) -> (N, C, *size), the middle of every spatial axis (rounded towards the start)."""
    size = _check(x, size, 0)
    index = [slice(None), slice(None)] + [slice((d - s) // 2, (d - s) // 2 + s) for d, s in zip(x.shape[2:], size)]
    return x[tuple(index)].contiguous()


class RandomCrops(Dataset):
    """Items ``(crop of x[i], y[i])``: x: (N, C, *S), every crop (C, *size).

    Args:
        x: inputs (N, C, *S): images (S = H, W) or clips (S = T, H, W).
        y: labels (N,).
        size: crop side per spatial axis.
        padding: zero padding added on both sides of every spatial axis before cropping.
        flip: flip the last axis (width) with probability 1/2.

    Example:
        >>> data = RandomCrops(torch.rand(4, 1, 8, 8), torch.arange(4), (6, 6), flip=True)
        >>> data[0][0].shape
        torch.Size([1, 6, 6])
    """

    def __init__(self, x: Tensor, y: Tensor, size: Sequence[int], padding: int = 0, flip: bool = False) -> None:
        if len(x) != len(y):
            raise ValueError(f"RandomCrops needs as many labels as inputs, got x: {tuple(x.shape)}, y: {tuple(y.shape)}")
        self.x, self.y, self.size, self.padding, self.flip = x, y, _check(x, size, padding), padding, flip

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        item = self.x[index]
        if self.padding:
            item = F.pad(item, [self.padding] * (2 * len(self.size)))
        starts = [int(torch.randint(d - s + 1, ())) for d, s in zip(item.shape[1:], self.size)]
        crop = item[(slice(None), *(slice(a, a + s) for a, s in zip(starts, self.size)))]
        if self.flip and bool(torch.rand(()) < 0.5):
            crop = crop.flip(-1)
        return crop.contiguous(), self.y[index]
