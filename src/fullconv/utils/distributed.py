"""torch.distributed queries and reductions that degrade to one process.

Without an initialised process group everything is rank 0 of a world of 1, and reductions are
no-ops. Joining the group (torchrun) is ``fullconv.training.distributed``'s business.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes logs, checkpoints and results."""
        return self.rank == 0


def info() -> DistInfo:
    """The current process's :class:`DistInfo` (rank 0 of 1 when torch.distributed is not initialised)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo()


def is_main() -> bool:
    return info().is_main


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes, in place; returns it (unchanged in a single process)."""
    if info().world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier() -> None:
    if info().world_size > 1:
        dist.barrier()


def broadcast(value):
    """Rank 0's ``value`` (any picklable object), on every rank."""
    if info().world_size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
