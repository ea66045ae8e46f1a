"""Atomic writes: a temporary file in the same folder, then a rename, so a reader sees the old file or the new one."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a part.

    A write that fails leaves ``path`` as it was and removes its temporary file.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a" / "b.bin"
        >>> atomic_write_bytes(target, b"new"); target.read_bytes(), sorted(p.name for p in target.parent.iterdir())
        (b'new', ['b.bin'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The process id keeps two processes writing the same file (torchrun ranks, pool workers) apart.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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


def atomic_save(path: Path | str, obj: Any) -> None:
    """``torch.save`` of ``obj`` to ``path``, atomically."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())
