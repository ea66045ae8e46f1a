"""RunContext: what an experiment's ``run(cfg, ctx)`` gets — where to write, which device and seeds, unit caching."""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch

from ..training.checkpoint import atomic_write_json, to_jsonable
from ..training.distributed import DistInfo, broadcast
from ..training.progress import progress as progress_bar

_UNIT_KEY = re.compile(r"^[A-Za-z0-9_.=,+-]+(/[A-Za-z0-9_.=,+-]+)*$")


@dataclass
class RunContext:
    """The run an experiment is part of.

    ``unit(key, fn)`` runs one unit of work (e.g. one (border, seed) model) in ``out_dir/units/<key>/``
    and caches its rows there, so a later run returns them without recomputing; ``resume`` says
    whether a unit interrupted before its rows were written continues from its checkpoint (pass it to
    ``fit(resume=ctx.resume)``) or starts over.
    """

    out_dir: Path
    device: torch.device
    preset: str
    seeds: list[int]
    data: str | None = None
    weights: Path | None = None
    resume: bool = False
    distributed: DistInfo = field(default_factory=DistInfo)

    def unit_dir(self, key: str) -> Path:
        if not _UNIT_KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
            raise ValueError(f"unit key {key!r} must be letters, digits and _.=,+- (parts separated by /)")
        return self.out_dir / "units" / key

    def unit(self, key: str, fn: Callable[[Path], dict | list[dict]]) -> dict | list[dict]:
        """Rows of unit ``key``: cached in ``units/<key>/rows.json``, else ``fn(folder)`` (and cached)."""
        folder = self.unit_dir(key)
        cached = folder / "rows.json"
        # Every rank takes rank 0's view, so that all of them train the unit or none does.
        if broadcast(cached.exists()):
            return json.loads(cached.read_text())
        folder.mkdir(parents=True, exist_ok=True)
        rows = fn(folder)
        if self.distributed.is_main:
            atomic_write_json(cached, rows)
        # Readers of the cache and of a fresh run get the same (JSON) values.
        return json.loads(json.dumps(rows, default=to_jsonable))

    def progress(self, iterable: Iterable, desc: str | None = None, total: int | None = None, **kwargs):
        """tqdm over ``iterable``, quiet when stderr is not a terminal and on ranks other than 0."""
        return progress_bar(iterable, desc=desc, total=total, **kwargs)

    def log(self, message: str) -> None:
        """One line to stderr (rank 0 only), prefixed with the experiment folder's name."""
        if self.distributed.is_main:
            print(f"[{self.out_dir.name}] {message}", file=sys.stderr, flush=True)
