"""Time of `fullconv probe` at its default settings, and of a second run that reads every unit from the cache.

Prints, from one run on this machine's CPU (threads: --threads, default 2):
- the wall time of probe(resnet50) at the default ProbeConfig (target: within 5 minutes on 2 cores);
- the wall time of the same call again with the same --out, over the first (the cache makes it ≈ 0);
- the units each run computed (the second must compute none).

Usage: python benchmarks/probe_time.py [--model resnet50] [--threads 2] [--out DIR]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from fullconv.probing import load_model, probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="probe-bench-"))
    model = load_model(args.model)
    times, units = [], []
    for _ in range(2):
        start = time.perf_counter()
        result = probe(model, name=args.model, out=out)
        times.append(time.perf_counter() - start)
        units.append(result.computed_units)
    print(f"{args.model}, {args.threads} threads: first run {times[0]:.0f} s ({units[0]} units; target <= 300 s), "
          f"second run {times[1]:.1f} s = {times[1] / times[0]:.3f}x the first ({units[1]} units computed)")
    print(result.verdict)


if __name__ == "__main__":
    main()
