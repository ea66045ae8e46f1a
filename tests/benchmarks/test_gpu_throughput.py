"""benchmarks/gpu_throughput.py --device cpu --tiny: one parsed line per model and border, FLOP ratios as full convolution implies."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(?P<model>\S+)\s+(?P<border>\S+)\s+GFLOP=(?P<gflop>[0-9.]+)\s+images/s=(?P<images>[0-9.e+-]+)\s+"
                  r"flop_ratio=(?P<flop_ratio>[0-9.]+)\s+time_ratio=(?P<time_ratio>[0-9.]+)\s+"
                  r"time/flop=(?P<score>[0-9.]+)$")
FAILED = re.compile(r"^(?P<model>\S+)\s+(?P<border>\S+)\s+FAILED: ")


@pytest.mark.slow
def test_tiny_cpu_run_prints_flop_and_time_ratios_per_border():
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_throughput.py"), "--device", "cpu", "--tiny"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "training step, batch 2, 32x32, cpu, 1 threads, float32"
    rows = {(m["model"], m["border"]): m for m in map(LINE.match, lines) if m}
    failed = {(m["model"], m["border"]) for m in map(FAILED.match, lines) if m}
    same, full, exact = (rows[("resnet50", border)] for border in ("same", "full", "full-exact"))
    assert (same["flop_ratio"], same["time_ratio"], same["score"]) == ("1.000", "1.000", "1.000")
    # full convolution keeps every response: more arithmetic than same; full-exact adds its background reads
    assert 1 < float(full["flop_ratio"]) <= float(exact["flop_ratio"])
    for row in (same, full, exact):
        assert float(row["images"]) > 0
        assert abs(float(row["score"]) - float(row["time_ratio"]) / float(row["flop_ratio"])) < 2e-3
    models = ["resnet50"] + (["convnext_tiny"] if importlib.util.find_spec("timm") else [])
    for model in models:
        assert {(model, border) for border in ("same", "full", "full-exact")} <= set(rows) | failed, model
    assert re.fullmatch(r"resnet50: worst time ratio / FLOP ratio = [0-9.]+ \(target <= 1\.10\) (OK|MISSED)",
                        next(line for line in lines if line.startswith("resnet50:")))
