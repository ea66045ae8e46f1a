"""Batches for the training loop: in-memory tensors by indexing, other data sets through a DataLoader.

The order of an epoch is a function of (seed, epoch) only, so a resumed run repeats it exactly.
Under torch.distributed each process takes its shard of that order, as ``DistributedSampler`` does.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from ..datasets.splits import split_generator


class InMemory(Dataset):
    """Tensors already in memory: ``x: (N, ...)``, ``y: (N, ...)``; batched by indexing, no DataLoader."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if len(x) != len(y):
            raise ValueError(f"InMemory needs as many targets as inputs, got x: {tuple(x.shape)}, y: {tuple(y.shape)}")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]

    def to(self, device: torch.device | str) -> "InMemory":
        return InMemory(self.x.to(device), self.y.to(device))


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of ``range(n)`` used in ``epoch`` by a run seeded with ``seed``: (n,) int64."""
    return torch.randperm(n, generator=split_generator(seed, "batch-order", epoch))


def shard(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This process's part of ``order``, padded by wrapping around like ``DistributedSampler``."""
    if world_size == 1:
        return order
    per_rank = math.ceil(len(order) / world_size)
    padded = order.repeat(math.ceil(per_rank * world_size / len(order)))[:per_rank * world_size]
    return padded[rank::world_size]


class SeededSampler(DistributedSampler):
    """A ``DistributedSampler`` whose order is :func:`epoch_order` (seed, epoch): the in-memory path's order."""

    def __iter__(self):
        order = shard(epoch_order(len(self.dataset), self.seed, self.epoch), self.rank, self.num_replicas)
        return iter(order.tolist())


def num_batches(n: int, batch_size: int, world_size: int = 1) -> int:
    """Batches per epoch of one process (the last one may be smaller)."""
    return math.ceil(math.ceil(n / world_size) / batch_size)


def _to(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device, non_blocking=True)


def train_batches(data: Dataset, batch_size: int, seeds: Sequence[int], epoch: int, *, device: torch.device,
                  num_workers: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled batches of one epoch, one order per seed.

    Yields:
        ``(x, y)``: ``x: (B, ...)``, ``y: (B, ...)`` for one seed; ``x: (M, B, ...)``, ``y: (M, B, ...)``
        for M seeds (member m in the order of ``seeds[m]``).
    """
    if isinstance(data, InMemory):
        orders = torch.stack([shard(epoch_order(len(data), s, epoch), rank, world_size) for s in seeds])
        orders = orders.to(data.x.device)
        for start in range(0, orders.shape[1], batch_size):
            index = orders[:, start:start + batch_size]
            if len(seeds) == 1:
                index = index[0]
            yield _to(data.x[index], device), _to(data.y[index], device)
        return
    loaders = []
    for s in seeds:
        sampler = SeededSampler(data, num_replicas=world_size, rank=rank, shuffle=True, seed=s, drop_last=False)
        sampler.set_epoch(epoch)
        loaders.append(DataLoader(data, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                                  pin_memory=device.type == "cuda",
                                  generator=split_generator(s, "workers", epoch)))
    for parts in zip(*loaders):
        if len(seeds) == 1:
            x, y = parts[0]
        else:
            x, y = torch.stack([p[0] for p in parts]), torch.stack([p[1] for p in parts])
        yield _to(x, device), _to(y, device)


def eval_batches(data: Dataset, batch_size: int, *, device: torch.device, members: int = 1, num_workers: int = 0,
                 rank: int = 0, world_size: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches in data-set order; process ``rank`` takes items rank, rank + world_size, … (no padding).

    Yields:
        ``(x, y)`` as in :func:`train_batches`; with ``members > 1`` every member sees the same items.
    """
    def expand(t: torch.Tensor) -> torch.Tensor:
        return t if members == 1 else t.unsqueeze(0).expand(members, *t.shape)

    if isinstance(data, InMemory):
        index = torch.arange(rank, len(data), world_size, device=data.x.device)
        for start in range(0, len(index), batch_size):
            part = index[start:start + batch_size]
            yield expand(_to(data.x[part], device)), expand(_to(data.y[part], device))
        return
    local = Subset(data, range(rank, len(data), world_size))
    loader = DataLoader(local, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=device.type == "cuda")
    for x, y in loader:
        yield expand(_to(x, device)), expand(_to(y, device))
