import json
import math

import pytest
import torch

from fullconv.utils import io
from fullconv.utils.io import atomic_save, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and [p.name for p in path.parent.iterdir()] == ["out.txt"]


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    atomic_write_bytes(path, b"old")

    def broken_fsync(fd):  # the disk fails after part of the new content is written
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_an_unserialisable_object_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "state.pt"
    atomic_save(path, {"a": torch.arange(3)})
    with pytest.raises(Exception):
        atomic_save(path, {"f": lambda: 0})  # torch.save cannot pickle a lambda
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_json_writes_tensors_numpy_sets_paths_and_nan(tmp_path):
    import numpy as np

    path = tmp_path / "r.json"
    atomic_write_json(path, {"t": torch.tensor([1, 2]), "n": np.float64(0.5), "s": {3, 1}, "p": tmp_path,
                             "nan": float("nan")})
    back = json.loads(path.read_text())
    assert back["t"] == [1, 2] and back["n"] == 0.5 and back["s"] == [1, 3] and back["p"] == str(tmp_path)
    assert math.isnan(back["nan"]) and path.read_text().endswith("\n")
