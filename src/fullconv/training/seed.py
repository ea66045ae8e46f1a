"""Seeding and deterministic settings, so that a seed gives the same numbers on CPU."""
from __future__ import annotations

import contextlib
import random
from typing import Iterator

import numpy as np
import torch

from .process_state import process_state


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (warning, not failing, where one has none) and no cuDNN autotuning."""
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    # Deterministic mode also fills every new tensor with NaN, a large share of a CPU step;
    # the results do not depend on it (no kernel here reads memory it has not written).
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.benchmark = not enabled
    torch.backends.cudnn.deterministic = enabled


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Run the block under :func:`set_deterministic` ``(enabled)``; restore every process-wide setting after it."""
    with process_state():
        set_deterministic(enabled)
        yield
