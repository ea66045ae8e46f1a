"""benchmarks/ddp_check.py on CPU (gloo, 2 processes): sharded evaluation equals one process's, weights stay in step."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(?P<border>\S+)\s+eval loss (?P<loss_ddp>[0-9.]+) vs (?P<loss_one>[0-9.]+), acc (?P<acc_ddp>[0-9.]+) "
                  r"vs (?P<acc_one>[0-9.]+); SyncBatchNorm layers (?P<sync>\d+); processes in step: max \|diff\| "
                  r"(?P<diff>\S+); per-process BatchNorm on CPU, not compared; (?P<verdict>OK|FAILED)$")


@pytest.mark.slow
def test_two_gloo_processes_agree_with_one():
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ddp_check.py"), "--nproc", "2", "--device", "cpu"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "ddp check: 2 processes (gloo) against one; batch 16 in all"
    rows = [LINE.match(line) for line in lines[1:]]
    assert all(rows) and [m["border"] for m in rows] == ["same", "full", "full-exact"], done.stdout
    for m in rows:
        assert m["verdict"] == "OK" and m["sync"] == "0"
        assert m["loss_ddp"] == m["loss_one"] and m["acc_ddp"] == m["acc_one"]
        assert float(m["diff"]) == 0.0
