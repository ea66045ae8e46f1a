"""A unit's identity: everything that changes its numbers, hashed into the name of its folder.

The identity of a run is its resolved config without the pure parallelism knobs
(:data:`PARALLELISM`), the content hash of ``--weights``, the ``--data`` spec with a fingerprint of
its files (names, sizes, mtimes), the device type, the number of processes and the package
version. Units of different identities live side by side in ``units/<identity id>/<key>/``, so a
changed setting trains new units next to the old ones instead of reusing or refusing them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

#: Config fields that decide how fast a run goes, never what it computes: red-green's ``workers``
#: (each border trains in its own process with one torch thread whatever their number) and rook's
#: ``threads``. ``num_workers`` (DataLoader workers) is not one of them: which worker's random
#: generator augments which image depends on how many there are.
PARALLELISM = frozenset({"workers", "threads"})

#: Length of the identity id (hex digits of its SHA-256) used as folder name.
ID_LENGTH = 12


def data_path(spec: str) -> Path:
    """The path a ``--data`` spec points at: ``kind:PATH`` -> PATH, a bare spec is a path itself."""
    kind, sep, rest = spec.partition(":")
    return Path(rest if sep and kind.replace("-", "").isalnum() and len(kind) > 1 else spec).expanduser()


def files_fingerprint(path: Path) -> str | None:
    """SHA-256 of the (relative name, size, mtime) of every file under ``path``; None when it does not exist."""
    if not path.exists():
        return None
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        stat = file.stat()
        name = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes, or of every file's name and bytes in a folder."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file != path:
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def run_identity(config: Mapping[str, Any], *, data: str | None, weights: Path | None, device: str,
                 world_size: int) -> dict[str, Any]:
    """The identity of a run's units (JSON values), see the module docstring."""
    from .. import __version__
    return {
        "config": {k: v for k, v in config.items() if k not in PARALLELISM},
        "data": None if data is None else {"spec": data, "files": files_fingerprint(data_path(data))},
        "weights": None if weights is None else content_hash(Path(weights)),
        "device": device,
        "world_size": world_size,
        "version": __version__,
    }


def identity_id(identity: Mapping[str, Any]) -> str:
    """The short hash naming the folder of an identity's units."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two identities, as ``key: old -> new`` (config fields by their own names)."""
    a, b = _flat(old), _flat(new)
    return [f"{key}: {_short(a.get(key, '(unset)'))} -> {_short(b.get(key, '(unset)'))}"
            for key in list(dict.fromkeys([*a, *b])) if a.get(key) != b.get(key)]


def _flat(identity: Mapping[str, Any]) -> dict[str, Any]:
    names = {"data": "--data", "weights": "--weights"}
    return {**identity.get("config", {}), **{names.get(k, k): v for k, v in identity.items() if k != "config"}}


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:16] + "…"
