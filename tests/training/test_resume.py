"""A run killed with SIGKILL mid-epoch and resumed ends with the numbers of an uninterrupted run, bit for bit."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from fullconv.training import load_checkpoint

SCRIPT = Path(__file__).with_name("resume_script.py")


def _run(run_dir: Path, out: Path, *flags: str) -> subprocess.Popen:
    env = dict(os.environ, FULLCONV_PROGRESS="0")
    return subprocess.Popen([sys.executable, str(SCRIPT), str(run_dir), str(out), *flags], env=env)


def _log_lines(run_dir: Path) -> int:
    log = run_dir / "log.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path):
    reference = _run(tmp_path / "reference", tmp_path / "reference.pt")
    killed = _run(tmp_path / "killed", tmp_path / "unused.pt", "--slow")
    deadline = time.monotonic() + 120
    while _log_lines(tmp_path / "killed") < 2 and time.monotonic() < deadline:  # 8 batches × 30 ms per epoch
        time.sleep(0.02)
    time.sleep(0.1)  # well inside epoch 3
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert reference.wait() == 0

    stopped_at = len(load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["history"])
    assert 2 <= stopped_at < 6, "the kill must land between the first checkpoints and the end"
    assert not (tmp_path / "unused.pt").exists()

    assert _run(tmp_path / "killed", tmp_path / "resumed.pt", "--resume").wait() == 0
    expected, resumed = torch.load(tmp_path / "reference.pt"), torch.load(tmp_path / "resumed.pt")
    assert resumed["history"] == expected["history"]
    assert resumed["best_epoch"] == expected["best_epoch"]
    for key, value in expected["state"].items():
        assert torch.equal(resumed["state"][key], value), key
    assert torch.equal(resumed["rng"], expected["rng"])  # the RNG state continues as well
    log = [json.loads(line) for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(1, 7))
