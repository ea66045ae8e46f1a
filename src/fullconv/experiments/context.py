"""RunContext: what an experiment's ``run(cfg, ctx)`` gets — where to write, which device and seeds, unit caching."""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch

from ..training import interrupt
from ..utils.io import atomic_write_json, to_jsonable
from ..utils.distributed import DistInfo, broadcast
from ..training.progress import progress as progress_bar, progress_enabled
from .identity import differences

_UNIT_KEY = re.compile(r"^[A-Za-z0-9_.=,+-]+(/[A-Za-z0-9_.=,+-]+)*$")


def unit_key(**parts) -> str:
    """The one format of a unit's key (and folder): ``name=value`` per part, in the order given, joined by ``/``.

    Example:
        >>> unit_key(border="full-exact", per_class=50, seed=0)
        'border=full-exact/per_class=50/seed=0'
    """
    return "/".join(f"{name}={value}" for name, value in parts.items())


@dataclass
class RunContext:
    """The run an experiment is part of.

    ``unit(key, fn)`` runs one unit of work (e.g. one (border, seed) model) in
    ``out_dir/units/<identity_id>/<key>/`` and caches its rows there, so a later run of the same
    identity (:mod:`fullconv.experiments.identity`) returns them without recomputing; ``resume``
    says whether a unit interrupted before its rows were written continues from its checkpoint
    (pass it to ``fit(resume=ctx.resume)``) or starts over. Without an identity (``identity_id``
    empty, as in tests that build a context by hand) units live in ``out_dir/units/<key>/``.
    """

    out_dir: Path
    device: torch.device
    preset: str
    seeds: list[int]
    data: str | None = None
    weights: Path | None = None
    resume: bool = False
    distributed: DistInfo = field(default_factory=DistInfo)
    identity: dict | None = None
    identity_id: str = ""

    @property
    def units_dir(self) -> Path:
        """Where this identity's units live: ``out_dir/units/<identity_id>``."""
        return self.out_dir / "units" / self.identity_id if self.identity_id else self.out_dir / "units"

    def unit_dir(self, key: str) -> Path:
        if not _UNIT_KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
            raise ValueError(f"unit key {key!r} must be letters, digits and _.=,+- (parts separated by /)")
        return self.units_dir / key

    def claim_units(self) -> None:
        """Record this identity in ``units/<id>/identity.json``; refuse a folder of another identity under that id."""
        if not self.identity_id or not self.distributed.is_main:
            return
        record = self.units_dir / "identity.json"
        if record.exists():
            theirs = json.loads(record.read_text())
            if theirs != json.loads(json.dumps(self.identity)):
                changed = "; ".join(differences(theirs, self.identity)) or "the recorded identity"
                raise ValueError(f"{self.units_dir} holds units of other settings ({changed}); "
                                 f"use --redo or another --out")
        else:
            atomic_write_json(record, self.identity)

    def other_identities(self) -> dict[str, list[str]]:
        """Cached units of other settings in ``out_dir/units``: identity id -> what differs from this one."""
        found = {}
        for record in sorted((self.out_dir / "units").glob("*/identity.json")):
            if record.parent.name != self.identity_id:
                found[record.parent.name] = differences(json.loads(record.read_text()), self.identity or {})
        return found

    def unit(self, key: str, fn: Callable[[Path], dict | list[dict]]) -> dict | list[dict]:
        """Rows of unit ``key``: cached in ``<units_dir>/<key>/rows.json``, else ``fn(folder)`` (and cached)."""
        folder = self.unit_dir(key)
        cached = folder / "rows.json"
        # Every rank takes rank 0's view, so that all of them train the unit or none does.
        if broadcast(cached.exists()):
            return json.loads(cached.read_text())
        interrupt.check()
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        rows = fn(folder)
        if self.distributed.is_main:
            atomic_write_json(cached, rows)
            if not progress_enabled():
                self.log(f"unit {key} done ({time.perf_counter() - start:.0f} s)")
        # Readers of the cache and of a fresh run get the same (JSON) values.
        return json.loads(json.dumps(rows, default=to_jsonable))

    def progress(self, iterable: Iterable, desc: str | None = None, total: int | None = None, **kwargs):
        """tqdm over ``iterable``, quiet when stderr is not a terminal and on ranks other than 0."""
        return progress_bar(iterable, desc=desc, total=total, **kwargs)

    def log(self, message: str) -> None:
        """One line to stderr (rank 0 only), prefixed with the experiment folder's name."""
        if self.distributed.is_main:
            print(f"[{self.out_dir.name}] {message}", file=sys.stderr, flush=True)
