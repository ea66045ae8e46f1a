"""Shift experiment: the tiny preset end to end, the same numbers under torchrun, the paper's pattern check."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fullconv.experiments import get
from fullconv.experiments.runner import build_config, run_experiment
from fullconv.experiments.shift import check_pattern

METRICS = ("acc", "consistency", "diagonal_acc")


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return run_experiment("shift", preset="tiny", out=tmp_path_factory.mktemp("single"), device="cpu")


def test_tiny_rows_and_figure(single, tmp_path):
    cfg = build_config(get("shift"), "tiny")
    rows = single["rows"]
    assert {(r["border"], r["blurpool"]) for r in rows} == {(b, p) for b in cfg.borders for p in cfg.blurpool}
    for row in rows:
        assert {"arch", "border", "blurpool", "seed", *METRICS} <= set(row)
        assert len(row["diagonal_curve"]) == cfg.max_shift + 1
        assert row["diagonal_acc"] == pytest.approx(sum(row["diagonal_curve"]) / len(row["diagonal_curve"]))
        assert all(0.0 <= row[m] <= 100.0 for m in METRICS)
    assert max(row["acc"] for row in rows) > 100 / cfg.num_classes + 10  # trained beyond chance
    assert single["figures"] == ["shift_diagonal.png"]


def test_torchrun_two_processes_match_one(single, tmp_path):
    """DDP (gloo, 2 CPU processes, each half of every global batch) gives the single-process metrics.

    They differ only through BatchNorm statistics of half batches, so the numbers agree closely.
    """
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "fullconv", "run", "shift",
               "--preset", "tiny", "--device", "cpu", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "shift" / "results.json").read_text())
    ours = {(r["border"], r["blurpool"]): r for r in single["rows"]}
    for row in results["rows"]:
        for metric in METRICS:
            assert abs(row[metric] - ours[(row["border"], row["blurpool"])][metric]) <= 10.0, (row, metric)


def _summary(values: dict) -> list[dict]:
    return [{"arch": "resnet18", "border": border, "blurpool": blurpool, "consistency_mean": c, "diagonal_acc_mean": d}
            for (border, blurpool), (c, d) in values.items()]


def test_check_pattern():
    paper_like = {("same", False): (86.4, 79.4), ("full", False): (88.4, 82.7),
                  ("same", True): (88.3, 82.0), ("full", True): (90.0, 84.0)}
    assert check_pattern(_summary(paper_like))[0]
    worse = {**paper_like, ("full", True): (88.0, 84.0)}
    reproduced, detail = check_pattern(_summary(worse))
    assert not reproduced and "+BlurPool consistency full−same -0.30" in detail
    assert check_pattern(_summary({("same", False): (1, 1)}))[0] is False


def test_bad_config_and_missing_data(tmp_path):
    with pytest.raises(ValueError, match="unknown arch 'resnet19'"):
        build_config(get("shift"), "tiny", ["archs=resnet19"])
    with pytest.raises(ValueError, match="needs --data PATH"):
        run_experiment("shift", preset="paper", out=tmp_path, device="cpu", sets=["archs=resnet18"])
    with pytest.raises(FileNotFoundError, match="train not found"):
        run_experiment("shift", preset="paper", out=tmp_path / "b", device="cpu", data=str(tmp_path))
