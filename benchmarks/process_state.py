"""Does an experiment run as fast after the others as alone? Ratios measured in one process.

Times one quadrant unit (``resnet18-w8``, scratch, ``full-exact``, frame 0; the ``ci`` preset's
geometry unless ``--preset quick``) alone, then runs the experiments that precede quadrant in
``reproduce`` (rook, conv-types, red-green, ``ci`` presets with red-green's borders trained in
forked workers), times the unit again, and prints

    after / alone   for wall-clock time and for this process's CPU time

with the process-wide state (torch threads, deterministic flags, start method, threading
environment) after each step. Every timing is repeated (``--repeats``) and the fastest counts,
so a burst of load from other processes on a shared machine inflates neither side. A ratio near
1 means the other experiments leave nothing behind that slows the unit.

Usage: python benchmarks/process_state.py [--preset ci|quick] [--repeats 2] [--epochs N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FULLCONV_PROGRESS", "0")

from fullconv.experiments.runner import run_experiment  # noqa: E402
from fullconv.training import ProcessState  # noqa: E402

UNIT = ["archs=resnet18-w8", "inits=scratch", "borders=full-exact", "frames=0"]
OTHERS = [("rook", ["epochs=10"]), ("conv-types", []),
          ("red-green", ["borders=same,full", "epochs=2", "n_train=400", "n_val=200", "n_test=200"])]


def timed(run) -> tuple[float, float]:
    """(wall s, CPU s of this process) of ``run()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def unit_time(preset: str, sets: list[str], out: Path, repeats: int, tag: str) -> tuple[float, float]:
    """Fastest (wall, CPU) of ``repeats`` fresh runs of the quadrant unit."""
    times = [timed(lambda i=i: run_experiment("quadrant", preset=preset, out=out / f"{tag}{i}", sets=sets,
                                              device="cpu"))
             for i in range(repeats)]
    print(f"quadrant unit {tag}: " + ", ".join(f"{w:.1f} s wall / {c:.1f} s CPU" for w, c in times), flush=True)
    return min(w for w, _ in times), min(c for _, c in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ci", choices=("ci", "quick"), help="quadrant unit's preset")
    parser.add_argument("--repeats", type=int, default=2, help="timings of the unit on each side")
    parser.add_argument("--epochs", type=int, help="epochs of the unit (default: the preset's)")
    args = parser.parse_args()
    unit = UNIT + ([f"epochs={args.epochs}"] if args.epochs else [])
    start = ProcessState.capture()
    print(f"state at start: {start}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        alone = unit_time(args.preset, unit, out, args.repeats, "alone")
        for name, sets in OTHERS:
            wall, cpu = timed(lambda: run_experiment(name, preset="ci", out=out / "others", sets=sets, device="cpu"))
            print(f"{name}: {wall:.1f} s wall / {cpu:.1f} s CPU; state changed: "
                  f"{start.differences(ProcessState.capture()) or 'nothing'}", flush=True)
        after = unit_time(args.preset, unit, out, args.repeats, "after")
    print(f"after / alone: wall {after[0] / alone[0]:.2f}, CPU {after[1] / alone[1]:.2f} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
