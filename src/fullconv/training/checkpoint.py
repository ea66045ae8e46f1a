"""Atomic writes (temporary file + rename) and checkpoints that carry every RNG state."""
from __future__ import annotations

import io
import json
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def to_jsonable(value: Any) -> Any:
    """``json.dumps`` default: tensors and NumPy scalars/arrays as numbers/lists, paths and other objects as text."""
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def atomic_write_json(path: Path | str, obj: Any) -> None:
    """JSON with indentation; NaN is written as ``NaN`` (Python's json reads it back)."""
    atomic_write_text(path, json.dumps(obj, indent=1, default=to_jsonable) + "\n")


def save_checkpoint(path: Path | str, state: dict) -> None:
    """``torch.save`` of ``state`` to ``path``, atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


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
