"""Checkpoints (written atomically) that carry every RNG state."""
from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

# The writers live in fullconv.utils.io; the training loop and fullconv.training's public names take them from here.
from ..utils.io import atomic_save as save_checkpoint, atomic_write_json, atomic_write_text

__all__ = ["atomic_write_json", "atomic_write_text", "load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state"]


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; a damaged file is a ValueError naming it."""
    # Our own files hold NumPy's RNG state next to tensors, which the weights-only unpickler refuses.
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError, ImportError,
            pickle.UnpicklingError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        raise ValueError(f"checkpoint {path} cannot be read ({reason}); delete it to train that unit from the "
                         f"start, or run without --resume") from error


def rng_state() -> dict:
    """The state of Python's, NumPy's, torch's CPU and every CUDA generator."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the generators from :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
