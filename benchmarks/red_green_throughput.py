"""Red-green training throughput as a fraction of this machine's matmul speed, measured in one run.

Prints, for the stacked-members training (all seeds of a border in one net, as the experiment
trains them) and for the paper's naive way (one model per seed, NCHW ``nn.Conv2d``, a DataLoader
over single samples):

    achieved training GFLOP/s (FLOPs counted by torch.utils.flop_counter.FlopCounterMode)
    / matmul GFLOP/s (float32 square matmul, measured before and after)

The paper's script reaches about 0.3; the target for the stacked training is at least 0.6.
Both are measured with one torch thread (as the experiment trains: one border per process, one
thread each) and with torch's default thread count. With ``--table`` it also times one epoch of
``fit`` per border (10 seeds stacked, the paper's data, one thread) and extrapolates the paper
preset's whole table (8 borders × 10 seeds × ≤ 50 epochs, borders shared among the cores).

Usage: python benchmarks/red_green_throughput.py [--border same] [--members 10] [--steps 5] [--table]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from fullconv.datasets.redgreen import RedGreenSpec, red_green
from fullconv.experiments.config import build
from fullconv.experiments.red_green import Config, load_splits
from fullconv.layers import BORDERS
from fullconv.models.tiny import RED_GREEN_LAYERS, StackedConvMaxNet, red_green_net, seeded_members
from fullconv.training import fit


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 n×n matmul speed over ``repeats`` tries: GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def step_flops(step) -> int:
    """FLOPs of one call of ``step`` as FlopCounterMode counts them."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def timed(step, steps: int) -> float:
    """Seconds per call of ``step``, best of ``steps`` calls after one warm-up call."""
    step()
    best = float("inf")
    for _ in range(steps):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def stacked_step(border: str, members: int, x: torch.Tensor, y: torch.Tensor):
    """One Adadelta step of ``members`` stacked nets on member-specific batches x: (M, B, 3, 32, 32)."""
    model = StackedConvMaxNet.from_members(seeded_members(lambda: red_green_net(border), range(members)))
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.9, eps=1e-6, weight_decay=5e-5)
    batch_x, batch_y = x.unsqueeze(0).expand(members, *x.shape).contiguous(), y.expand(members, -1)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(batch_x).flatten(0, 1), batch_y.flatten(), reduction="none")
        loss.view(members, -1).mean(1).sum().backward()
        optimizer.step()
    return step


def naive_model() -> nn.Module:
    """The paper's way: plain NCHW ``nn.Conv2d`` with zero padding, one model per seed."""
    layers: list[nn.Module] = []
    for c_in, c_out, stride in RED_GREEN_LAYERS:
        layers += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(RED_GREEN_LAYERS[-1][1], 2))


def naive_epoch_step(x: torch.Tensor, y: torch.Tensor):
    """One Adadelta step per batch of a DataLoader over single samples, as the paper's script does."""
    model = naive_model()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.9, eps=1e-6, weight_decay=5e-5)
    loader = DataLoader(TensorDataset(x, y), batch_size=len(x), shuffle=True)

    def step():
        for batch_x, batch_y in loader:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(batch_x), batch_y).backward()
            optimizer.step()
    return step


def throughput(name: str, step, steps: int, reference: float) -> float:
    flops = step_flops(step)
    seconds = timed(step, steps)
    rate = flops / seconds / 1e9
    print(f"{name:<34} {flops / 1e9:8.2f} GFLOP/step {seconds * 1000:8.1f} ms/step "
          f"{rate:7.1f} GFLOP/s  ratio {rate / reference:.2f}", flush=True)
    return rate / reference


def table_estimate(members: int, workers: int) -> None:
    """Time one epoch of fit per border (one thread, ``members`` stacked seeds); extrapolate the paper's
    table as the experiment runs it: ``workers`` borders at once, one thread each."""
    cfg = build(Config, {"seeds": members, "train.epochs": 1})
    splits = load_splits(cfg)
    total = 0.0
    for border in BORDERS:
        model = StackedConvMaxNet.from_members(seeded_members(lambda: red_green_net(border), range(members)))
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            fit(model, splits["train"], splits["val"], cfg.train, run_dir=Path(folder), device="cpu",
                seed=list(range(members)), members=members, progress=False)
            seconds = time.perf_counter() - start
        total += seconds
        print(f"  {border:<15} one epoch of {members} stacked seeds: {seconds:6.1f} s", flush=True)
    epochs = Config().train.epochs
    print(f"paper table estimate: {epochs} epochs × {total:.1f} s / {workers} workers = "
          f"{epochs * total / workers / 60:.1f} min (upper bound: early stopping ends most seeds sooner, but "
          f"stopped members keep computing until the last member of their border stops)")


def measure(threads: int, args, x: torch.Tensor, y: torch.Tensor) -> None:
    """Matmul, stacked and naive throughput with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    before = matmul_gflops()
    print(f"-- {threads} torch thread(s): matmul {before:.1f} GFLOP/s")
    stacked = throughput(f"stacked {args.members} seeds ({args.border})",
                         stacked_step(args.border, args.members, x, y), args.steps, before)
    naive = throughput("naive per-seed (paper's script)", naive_epoch_step(x, y), args.steps * 2, before)
    after = matmul_gflops()
    print(f"matmul after: {after:.1f} GFLOP/s (the ratios use the first measurement; "
          f"a large change means the machine's load changed)")
    print(f"RATIO {threads} thread(s): stacked {stacked:.2f} (target >= 0.6), naive {naive:.2f} (paper's script ~0.3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--border", default="same", choices=BORDERS)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--table", action="store_true", help="also extrapolate the paper table's time")
    args = parser.parse_args()
    x, y = red_green(RedGreenSpec(n_train=args.batch, n_val=2, n_test=2), 0, "train")
    default_threads = torch.get_num_threads()
    print(f"torch {torch.__version__}; the experiment trains one border per process with one thread each")
    for threads in sorted({1, default_threads}):
        measure(threads, args, x, y)
    if args.table:
        torch.set_num_threads(1)
        table_estimate(args.members, workers=default_threads)


if __name__ == "__main__":
    main()
