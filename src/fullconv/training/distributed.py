"""torch.distributed helpers: start from torchrun's environment, choose the device, leave the group.

Without torchrun (no ``WORLD_SIZE`` > 1 in the environment) everything degrades to one process:
rank 0 of a world of 1, and reductions are no-ops.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

# Rank queries and reductions live in fullconv.utils.distributed (the library's metrics use them too);
# the training loop and the runner take them from here.
from ..utils.distributed import DistInfo, all_reduce_sum, barrier, broadcast, info, is_main

__all__ = ["DistInfo", "all_reduce_sum", "barrier", "broadcast", "info", "init_from_env", "is_main",
           "launched_by_torchrun", "resolve_device", "shutdown"]


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: torch.device | str | None = None) -> DistInfo:
    """Join the process group that torchrun describes (nccl on CUDA, gloo otherwise); idempotent."""
    if launched_by_torchrun() and not dist.is_initialized():
        device = torch.device(device) if device is not None else None
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
    return info()


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
