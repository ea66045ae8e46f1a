"""Cost of full convolution: train-step time of converted models against their extra FLOPs.

Prints, from one run on this machine's CPU, for each model (default: torchvision resnet50, timm
resnet50d and convnext_atto when timm is installed):
- FLOPs of a train step (forward + backward, counted by torch.utils.flop_counter) of the model
  converted to `full` and to `full-exact`, divided by those of the unconverted model;
- their measured train-step times divided by the unconverted model's;
- the targets: time ratio <= 1.10 × FLOP ratio for `full`, and `full-exact` time <= 1.10 × `full`;
- `full-exact` with `downsample="polyphase"` (the phase of every resolution level chosen per
  sample; only that phase computed) against plain `full-exact`: time and FLOPs, target time <= 1.30.

``--flush-denormal`` sets ``torch.set_flush_denormal(True)`` before anything runs (so the worker
threads start with it too): `full` maps grow large border regions whose values decay into
denormal floats, which x86 CPUs compute many times slower (ConvNeXt's case).

Usage: python benchmarks/convert_overhead.py [--models resnet50,timm:resnet50d,timm:convnext_atto]
       [--size 128] [--batch 8] [--repeats 5] [--flush-denormal]
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from fullconv import convert
from fullconv.probing import load_model

DEFAULT_MODELS = ("resnet50", "timm:resnet50d", "timm:convnext_atto")


def train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()


def flops(model, x, y) -> int:
    with FlopCounterMode(display=False) as counter:
        train_step(model, x, y)
    return counter.get_total_flops()


def step_time(model, x, y, repeats: int) -> float:
    train_step(model, x, y)  # warm-up: allocations, oneDNN primitives
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        train_step(model, x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(spec: str, x: torch.Tensor, y: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Print one model's table; returns (full time/FLOP ratio, full-exact/full time, polyphase/full-exact time)."""
    base = load_model(spec).train()
    models = {"same (original)": base, "full": convert(base, "full"), "full-exact": convert(base, "full-exact"),
              "full-exact polyphase": convert(base, "full-exact", downsample="polyphase")}
    counted = {name: flops(m, x, y) for name, m in models.items()}
    # interleave the timings so that load changes on the machine hit every model alike
    samples = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            samples[name].append(step_time(model, x, y, 1))
    timed = {name: statistics.median(v) for name, v in samples.items()}
    ref = "same (original)"
    print(f"{spec} train step, batch {x.shape[0]}, {x.shape[-2]}x{x.shape[-1]}, {torch.get_num_threads()} threads")
    print(f"{'model':20s} {'GFLOP':>8s} {'time s':>8s} {'FLOP ratio':>11s} {'time ratio':>11s} {'time/FLOP':>10s}")
    for name in models:
        flop_ratio, time_ratio = counted[name] / counted[ref], timed[name] / timed[ref]
        print(f"{name:20s} {counted[name] / 1e9:8.2f} {timed[name]:8.3f} {flop_ratio:11.3f} {time_ratio:11.3f} "
              f"{time_ratio / flop_ratio:10.3f}")
    full_vs_flops = (timed["full"] / timed[ref]) / (counted["full"] / counted[ref])
    exact_vs_full = timed["full-exact"] / timed["full"]
    print(f"full: time ratio / FLOP ratio = {full_vs_flops:.3f} (target <= 1.10) "
          f"{'OK' if full_vs_flops <= 1.10 else 'MISSED'}")
    print(f"full-exact / full time = {exact_vs_full:.3f} (target <= 1.10) {'OK' if exact_vs_full <= 1.10 else 'MISSED'}")
    phased = timed["full-exact polyphase"] / timed["full-exact"]
    print(f"full-exact polyphase / full-exact time = {phased:.3f} (target <= 1.30) {'OK' if phased <= 1.30 else 'MISSED'}, "
          f"FLOPs {counted['full-exact polyphase'] / counted['full-exact']:.3f}")
    return full_vs_flops, exact_vs_full, phased


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(m for m in DEFAULT_MODELS
                                                     if not m.startswith("timm:") or importlib.util.find_spec("timm")),
                        help="comma-separated model names as `fullconv probe` takes them")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--flush-denormal", action="store_true",
                        help="flush denormal floats to zero (set before any thread starts)")
    args = parser.parse_args()
    if args.flush_denormal and not torch.set_flush_denormal(True):
        parser.error("--flush-denormal: this CPU cannot flush denormals (no SSE3); run without it")
    print("denormal floats:", "flushed to zero" if args.flush_denormal else "kept (the default)")
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 1000, (args.batch,))
    summary = {spec: measure(spec, x, y, args.repeats) for spec in args.models.split(",")}
    print("summary (time/FLOP of full; full-exact/full time; polyphase/full-exact time):",
          ", ".join(f"{spec} {a:.3f}; {b:.3f}; {c:.3f}" for spec, (a, b, c) in summary.items()))


if __name__ == "__main__":
    main()
