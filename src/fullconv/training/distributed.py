"""torch.distributed helpers: start from torchrun's environment, rank/world queries, metric reduction.

Without torchrun (no ``WORLD_SIZE`` > 1 in the environment) everything degrades to one process:
rank 0 of a world of 1, and reductions are no-ops.
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


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: torch.device | str | None = None) -> DistInfo:
    """Join the process group that torchrun describes (nccl on CUDA, gloo otherwise); idempotent."""
    if launched_by_torchrun() and not dist.is_initialized():
        device = torch.device(device) if device is not None else None
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
    return info()


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


def shutdown() -> None:
    """Leave the process group (if any), so that the process exits without warnings."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` -> a torch.device; under torchrun CUDA uses the process's local rank."""
    if choice not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {choice!r}; choose one of: auto, cpu, cuda")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available; use --device cpu or auto")
    if choice == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)
