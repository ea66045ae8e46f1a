"""Process-wide settings that training changes: capture them, run a block under them, restore them.

torch's thread counts, its deterministic flags, the default multiprocessing start method and the
threading environment variables belong to the process, not to the code that sets them. An
experiment that changes one and leaves it changed alters the speed (or the kernels) of whatever
runs after it in the same process, so everything here restores what it found.

Example:
    >>> before = ProcessState.capture()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> ProcessState.capture() == before
    True
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import warnings
from dataclasses import dataclass, fields, replace
from typing import Iterator

import torch

#: Environment variables read by the OpenMP, MKL and BLAS runtimes (threads, spinning, pinning),
#: by cuBLAS's deterministic mode, and by fullconv itself.
ENV_PREFIXES: tuple[str, ...] = ("OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "CUBLAS_", "FULLCONV_")
ENV_NAMES: tuple[str, ...] = ("NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, value in os.environ.items()
                        if name.startswith(ENV_PREFIXES) or name in ENV_NAMES))


def _start_method() -> str:
    # Not yet fixed (None) means the platform's default, the first of get_all_start_methods();
    # tqdm fixes it to that on its first bar, which changes nothing.
    return multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]


@dataclass(frozen=True)
class ProcessState:
    """The process-wide settings that decide how fast, and with which kernels, torch computes."""

    threads: int
    interop_threads: int
    deterministic: bool
    deterministic_warn_only: bool
    fill_uninitialized_memory: bool
    cudnn_benchmark: bool
    cudnn_deterministic: bool
    start_method: str  # multiprocessing's default for new processes
    environment: tuple[tuple[str, str], ...]  # (name, value) of the variables named by ENV_PREFIXES/ENV_NAMES

    @classmethod
    def capture(cls) -> ProcessState:
        """The settings of this process now."""
        return cls(threads=torch.get_num_threads(), interop_threads=torch.get_num_interop_threads(),
                   deterministic=torch.are_deterministic_algorithms_enabled(),
                   deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
                   fill_uninitialized_memory=torch.utils.deterministic.fill_uninitialized_memory,
                   cudnn_benchmark=torch.backends.cudnn.benchmark,
                   cudnn_deterministic=torch.backends.cudnn.deterministic,
                   start_method=_start_method(),
                   environment=_environment())

    def differences(self, other: ProcessState) -> dict[str, tuple]:
        """``{field: (self's value, other's value)}`` for every field where the two differ."""
        return {f.name: (getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(other, f.name)}

    def restore(self) -> None:
        """Make this the process's state again (all but the inter-op thread count, see below)."""
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        if self.interop_threads != torch.get_num_interop_threads():
            # torch fixes the inter-op pool at its first use and refuses to change it later.
            warnings.warn(f"torch's inter-op thread count changed from {self.interop_threads} to "
                          f"{torch.get_num_interop_threads()} and cannot be restored", RuntimeWarning,
                          stacklevel=2)
        torch.use_deterministic_algorithms(self.deterministic, warn_only=self.deterministic_warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = self.fill_uninitialized_memory
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        torch.backends.cudnn.deterministic = self.cudnn_deterministic
        if _start_method() != self.start_method:
            multiprocessing.set_start_method(self.start_method, force=True)
        saved = dict(self.environment)
        for name, _ in _environment():
            if name not in saved:
                del os.environ[name]
        os.environ.update(saved)


@contextlib.contextmanager
def process_state(state: ProcessState | None = None) -> Iterator[ProcessState]:
    """Run the block under ``state`` (default: as it is now), then restore the state found on entry.

    Yields the state found on entry. ``state`` makes the block's start explicit: a runner of
    several experiments passes the state captured before the first one, so each starts alike.
    """
    before = ProcessState.capture()
    try:
        if state is not None:
            state.restore()
        yield before
    finally:
        before.restore()


def torch_threads(threads: int) -> contextlib.AbstractContextManager[ProcessState]:
    """Run the block with ``threads`` torch threads (0: as it is), then restore the count.

    Tiny steps (one 32×32 image) cost more in thread synchronisation than in arithmetic, most of
    all on a loaded machine.
    """
    now = ProcessState.capture()
    return process_state(replace(now, threads=threads) if threads > 0 else None)
