"""Training throughput of converted models on one device, next to their FLOP ratio, measured in one run.

For ResNet-50 (torchvision) and, when timm is installed, ConvNeXt-T, each as ``same`` (the
unconverted model), ``full`` and ``full-exact``, prints:

- GFLOP of one training step (forward + backward, counted by torch.utils.flop_counter) and its
  ratio to ``same``;
- training images/s: forward, backward and an SGD step, with AMP (bfloat16 where supported,
  else float16 with a gradient scaler) and channels-last on CUDA, float32 on CPU;
- time ratio to ``same`` divided by the FLOP ratio, against the target <= 1.10 (full convolution
  should cost no more than its extra arithmetic).

The models' steps are interleaved over the repeats, so that load changes hit every model alike;
each figure is the median over repeats. ``--tiny`` (batch 2, 32×32, one short repeat) only checks
that the script runs, for example on a CPU in CI: its speeds are not a measurement.

Usage: python benchmarks/gpu_throughput.py [--device cuda] [--batch 64] [--size 224] [--steps 10]
       [--repeats 5] [--tiny]
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import statistics
import sys
import time

import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from fullconv import convert
from fullconv.training import resolve_device

BORDERS = ("same", "full", "full-exact")
TARGET = 1.10


def base_models(num_classes: int) -> dict[str, nn.Module]:
    """The unconverted models: ResNet-50, and ConvNeXt-T when timm is installed."""
    models = {"resnet50": torchvision.models.resnet50(num_classes=num_classes)}
    if importlib.util.find_spec("timm") is not None:
        import timm

        models["convnext_tiny"] = timm.create_model("convnext_tiny", pretrained=False, num_classes=num_classes)
    return models


class Trainer:
    """One model's training step on a fixed batch x: (B, 3, S, S), y: (B,)."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.model = model.to(device).train()
        self.x, self.y = x.to(device), y.to(device)
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.dtype = torch.bfloat16 if self.cuda and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda and self.dtype == torch.float16)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        autocast = torch.autocast("cuda", dtype=self.dtype) if self.cuda else contextlib.nullcontext()
        with autocast:
            loss = nn.functional.cross_entropy(self.model(self.x), self.y)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def flops(self) -> int:
        """FLOPs of one step (the optimizer's element-wise update is not counted)."""
        with FlopCounterMode(display=False) as counter:
            self.step()
        return counter.get_total_flops()

    def seconds(self, steps: int) -> float:
        """Seconds per step over ``steps`` steps."""
        self._sync()
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        self._sync()
        return (time.perf_counter() - start) / steps

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.x.device)


def measure(name: str, base: nn.Module, args, device: torch.device) -> list[float]:
    """Print the lines of one architecture; returns each converted variant's time ratio / FLOP ratio.

    A variant whose conversion or first step fails gets a FAILED line and no figures.
    """
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=generator)
    y = torch.randint(0, 100, (args.batch,), generator=generator)
    trainers, counted = {}, {}
    for border in BORDERS:
        try:
            trainer = Trainer(base if border == "same" else convert(base, border), x, y, device)
            counted[border] = trainer.flops()  # also the warm-up step
            trainers[border] = trainer
        except Exception as error:  # report and go on with the other variants
            print(f"{name:<14} {border:<11} FAILED: {type(error).__name__}: {error}".splitlines()[0], flush=True)
    if "same" not in trainers:
        return []
    samples: dict[str, list[float]] = {border: [] for border in trainers}
    for _ in range(args.repeats):
        for border, trainer in trainers.items():
            samples[border].append(trainer.seconds(args.steps))
    timed = {border: statistics.median(values) for border, values in samples.items()}
    scores = []
    for border in trainers:
        flop_ratio, time_ratio = counted[border] / counted["same"], timed[border] / timed["same"]
        score = time_ratio / flop_ratio
        print(f"{name:<14} {border:<11} GFLOP={counted[border] / 1e9:.3f}  images/s={args.batch / timed[border]:.4g}  "
              f"flop_ratio={flop_ratio:.3f}  time_ratio={time_ratio:.3f}  time/flop={score:.3f}", flush=True)
        if border != "same":
            scores.append(score)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="batch 2, 32×32, one repeat of one step: a run check")
    args = parser.parse_args(argv)
    if args.tiny:
        args.batch, args.size, args.steps, args.repeats = 2, 32, 1, 1
    device = resolve_device(args.device)
    torch.manual_seed(0)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    precision = "AMP, channels-last" if device.type == "cuda" else "float32"
    print(f"training step, batch {args.batch}, {args.size}x{args.size}, {where}, {precision}", flush=True)
    scores = {name: measure(name, base, args, device) for name, base in base_models(100).items()}
    for name, values in scores.items():
        if len(values) < len(BORDERS) - 1:
            print(f"{name}: not every variant ran (see FAILED above)", flush=True)
        elif values:
            worst = max(values)
            print(f"{name}: worst time ratio / FLOP ratio = {worst:.3f} (target <= {TARGET:.2f}) "
                  f"{'OK' if worst <= TARGET else 'MISSED'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
