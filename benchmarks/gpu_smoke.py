"""Smoke run of every experiment's `paper` preset: a few training and evaluation steps on generated data.

Each preset runs through ``run_experiment`` (its own model, transforms, training loop, metrics and
results.json), on small data written on the spot in the layouts the paper presets read
(:mod:`smoke_data`), with the ``--set`` overrides of the table :data:`SMOKE` below: epochs, batch
sizes and data-set sizes shrink, input sizes stay the paper's. ``--tiny`` also shrinks inputs and
variants, so that the whole run takes seconds on a CPU.

On CUDA the training loop uses AMP and channels-last (``TrainConfig`` defaults). Quadrant's
``pretrained`` backbones are randomly initialised stand-ins (``--weights``), so that its
frozen-backbone path runs; no accuracy of a smoke run means anything. Prints one line per preset,
for example (``--device cpu --tiny``, one thread of a loaded 2-core CPU)::

    shift            steps=4  steps/s=0.342  images/s=1.027  peak_mem=n/a  loss=finite  wall_s=29.8

``steps`` counts optimizer steps of image models (a frozen backbone's head trained on cached
features is not counted); ``steps/s`` and ``images/s`` are over the time from the start of each
training forward to the end of its optimizer step (data loading excluded). Images are clips for
action, patches for patch matching and images × stacked seeds for rook and red-green. ``loss`` is
``finite`` when every logged training and validation loss is finite. The last line says whether
every preset ran; the exit status is 1 otherwise.

Usage: python benchmarks/gpu_smoke.py [--device cuda] [--tiny] [--only NAME ...] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

import smoke_data
from fullconv.experiments.registry import get
from fullconv.experiments.runner import build_config, run_experiment
from fullconv.training import distributed


def batch_images(shape: torch.Size) -> int:
    return shape[0]


def stacked_images(shape: torch.Size) -> int:
    """Stacked seeds: x (M, B, C, H, W)."""
    return shape[0] * shape[1]


def pair_images(shape: torch.Size) -> int:
    """Patch pairs: x (B, 2, H, W)."""
    return 2 * shape[0]


@dataclass(frozen=True)
class Smoke:
    """How one `paper` preset is smoke-run: the data it reads, ``--set`` overrides at the paper's input
    sizes and with ``--tiny``, and how many images a training input holds."""

    data: str | None = None
    paper: tuple[str, ...] = ()
    tiny: tuple[str, ...] = ()
    images: Callable[[torch.Size], int] = batch_images


#: Generated data per mode: an ImageFolder (shift, data-efficiency; its train/ is quadrant's image
#: source), UCF/HMDB frames (action), PhotoTour scenes (patch matching).
DATA = {
    "paper": {"classes": 10, "train": 52, "val": 4, "sides": (256, 288),
              "video_classes": 4, "train_videos": 32, "test_videos": 1, "frames": 16, "frame_size": (320, 240),
              "points": 1024, "pairs": 1000},
    "tiny": {"classes": 2, "train": 3, "val": 1, "sides": (36, 44),
             "video_classes": 2, "train_videos": 1, "test_videos": 1, "frames": 4, "frame_size": (171, 128),
             "points": 16, "pairs": 32},
}

#: The overrides, one entry per experiment. Paper sizes: real input sizes and batch sizes, one epoch
#: of a few steps. Tiny: small inputs, one or two variants, a few images.
SMOKE = {
    "conv-types": Smoke(),
    "rook": Smoke(paper=("epochs=2",), tiny=("epochs=2", "seeds=2", "borders=same,full-exact"),
                  images=stacked_images),
    "red-green": Smoke(
        paper=("epochs=1", "n_train=600", "n_val=200", "n_test=200", "workers=1"),
        tiny=("epochs=1", "seeds=2", "borders=same,full-exact", "n_train=96", "n_val=32", "n_test=32",
              "batch_size=32", "workers=1"),
        images=stacked_images),
    "quadrant": Smoke(
        data="quadrant",
        paper=("epochs=1", "head_epochs=1", "n_train=32", "n_val=8", "n_test=8"),
        tiny=("archs=resnet18", "inits=scratch,pretrained", "borders=same,full-exact", "frames=4", "item=8",
              "canvas=40", "epochs=1", "head_epochs=1", "n_train=2", "n_val=2", "n_test=2", "batch_size=4")),
    "shift": Smoke(
        data="imagefolder",
        paper=("epochs=1", "num_classes={classes}"),
        tiny=("archs=resnet18", "borders=same,full-exact", "blurpool=true", "num_classes={classes}", "crop=32",
              "protocol=custom", "max_shift=4", "epochs=1", "batch_size=4", "consistency_pairs=1",
              "num_workers=0")),
    "data-efficiency": Smoke(
        data="imagefolder",
        paper=("epochs=1", "per_class=5,0", "val_per_class=2"),
        tiny=("arch=resnet18", "per_class=0", "val_per_class=1", "image_size=32", "epochs=1", "batch_size=4", "num_workers=0")),
    "patch-matching": Smoke(
        data="phototour",
        paper=("epochs=1", "triplets=2048"),
        tiny=("borders=same,full-exact", "triplets=8", "epochs=1", "batch_size=8", "width=4"),
        images=pair_images),
    "action": Smoke(
        data="frames",
        paper=("epochs=1",),
        tiny=("datasets=ucf101", "depths=18", "width=4", "frames=4", "variants=same:spacetime,full-exact:spacetime",
              "epochs=1", "batch_size=2", "num_workers=0")),
}


def make_data(kind: str | None, root: Path, sizes: dict, made: dict, config) -> tuple[str | None, Path | None]:
    """(--data, --weights) of a preset with ``config``, writing its data under ``root`` the first time it is asked for."""
    if kind is None:
        return None, None
    if kind in ("imagefolder", "quadrant") and "imagefolder" not in made:
        made["imagefolder"] = smoke_data.image_folder(
            root / "images", sizes["classes"], {"train": sizes["train"], "val": sizes["val"]}, sizes["sides"], 0)
    if kind == "imagefolder":
        return str(made["imagefolder"]), None
    if kind == "quadrant":
        weights = smoke_data.random_weights(root / "weights", config.archs, 0)
        return f"imagenet-val:{made['imagefolder'] / 'train'}", weights
    if kind == "frames":
        videos = {"train": sizes["train_videos"], "test": sizes["test_videos"]}
        return "frames:" + str(smoke_data.ucf_frames(root / "frames", sizes["video_classes"], videos, sizes["frames"],
                                                     sizes["frame_size"], 0)), None
    if kind == "phototour":
        return str(smoke_data.phototour(root / "phototour", ("liberty", "notredame", "yosemite"), sizes["points"],
                                        2, sizes["pairs"], 0)), None
    raise ValueError(f"unknown smoke data kind {kind!r}")


@dataclass
class StepMeter:
    """Times optimizer steps of image models through global module and optimizer hooks.

    A step starts at the outermost forward that runs with gradients on an input of 4 or more
    dimensions and ends when an optimizer steps; CUDA is synchronised at both ends.
    """

    device: torch.device
    images: Callable[[torch.Size], int]
    seconds: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._outer = None
        self._start: float | None = None
        self._shape: torch.Size | None = None

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _before_forward(self, module, args) -> None:
        if self._outer is None:
            self._outer = module
            x = args[0] if args else None
            if torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.ndim >= 4:
                self._start, self._shape = self._now(), x.shape

    def _after_forward(self, module, args, output) -> None:
        if module is self._outer:
            self._outer = None

    def _after_step(self, optimizer, args, kwargs) -> None:
        if self._start is not None:
            self.seconds.append(self._now() - self._start)
            self.counts.append(self.images(self._shape))
            self._start = None

    def __enter__(self) -> "StepMeter":
        self._handles = [torch.nn.modules.module.register_module_forward_pre_hook(self._before_forward),
                         torch.nn.modules.module.register_module_forward_hook(self._after_forward),
                         register_optimizer_step_post_hook(self._after_step)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()


def logged_losses(folder: Path) -> list[float]:
    """Every training and validation loss in the units' log.jsonl files under ``folder``."""
    values: list[float] = []
    for log in sorted(folder.rglob("log.jsonl")):
        for line in log.read_text().splitlines():
            record = json.loads(line)
            for key in ("train_loss", "val_loss"):
                value = record.get(key)
                values += value if isinstance(value, list) else [] if value is None else [value]
    return values


def smoke_line(name: str, meter: StepMeter, losses: list[float], peak: float | None, wall: float) -> str:
    steps, seconds = len(meter.seconds), sum(meter.seconds)
    rate = f"{steps / seconds:.3g}" if steps else "n/a"
    images = f"{sum(meter.counts) / seconds:.4g}" if steps else "n/a"
    memory = "n/a" if peak is None else f"{peak / 2 ** 30:.2f}GiB"
    finite = "n/a" if not losses else "finite" if all(math.isfinite(v) for v in losses) else "NOT-FINITE"
    return (f"{name:<16} steps={steps}  steps/s={rate}  images/s={images}  peak_mem={memory}  loss={finite}  "
            f"wall_s={wall:.1f}")


def smoke(name: str, spec: Smoke, mode: str, device: str, root: Path, made: dict) -> tuple[str, bool]:
    """Run one paper preset; its output line and whether it ran with finite losses."""
    sets = [item.format(**DATA[mode]) for item in (spec.tiny if mode == "tiny" else spec.paper)]
    data, weights = make_data(spec.data, root / "data", DATA[mode], made, build_config(get(name), "paper", sets))
    torch_device = distributed.resolve_device(device)
    if torch_device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch_device)
    start = time.perf_counter()
    with StepMeter(torch_device, spec.images) as meter:
        run_experiment(name, preset="paper", out=root / "runs", device=device, data=data, weights=weights,
                       sets=sets, redo=True)
    wall = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(torch_device) if torch_device.type == "cuda" else None
    losses = logged_losses(root / "runs" / name)
    return smoke_line(name, meter, losses, peak, wall), all(math.isfinite(v) for v in losses)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--tiny", action="store_true", help="small inputs and variants: seconds on a CPU")
    parser.add_argument("--only", nargs="+", choices=sorted(SMOKE), help="run only these experiments")
    parser.add_argument("--keep", type=Path, help="write data and runs here (kept) instead of a temporary folder")
    args = parser.parse_args(argv)
    mode = "tiny" if args.tiny else "paper"
    names = args.only or list(SMOKE)
    main_rank = distributed.is_main()
    failed = []
    with tempfile.TemporaryDirectory() as temporary:
        root = args.keep or Path(temporary)
        made: dict = {}
        for name in names:
            try:
                line, finite = smoke(name, SMOKE[name], mode, args.device, root, made)
            except Exception as error:  # report and go on: one broken preset must not hide the others
                traceback.print_exc()
                line, finite = f"{name:<16} FAILED: {type(error).__name__}: {error}".splitlines()[0], False
            if not finite:
                failed.append(name)
            if main_rank:
                print(line, flush=True)
    if main_rank:
        print(f"{len(names) - len(failed)}/{len(names)} paper presets ran with finite losses"
              + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    distributed.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
