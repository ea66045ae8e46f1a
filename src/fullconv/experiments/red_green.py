"""Red-green (Kayhan & van Gemert 2020, Table 1): does the border let a net read absolute position?

Class 0 has a red box left of a green one in the upper band, class 1 the reverse in the lower
band. The colour order alone solves the task; the band is a shortcut that a net can read from the
image border. The *dissimilar* test set swaps the bands: a net that used position fails there.
With ``full`` borders the net is equivariant to the 16-pixel shift between the bands (a multiple
of its total stride 8), so it scores the same on both test sets.

All seeds of a border train at once, stacked as members (each with its own initialisation, batch
order, early stopping and best weights). On CPU, ``workers`` borders train in parallel processes
of one torch thread each: small convolutions split over threads spend much of their time waiting
at barriers (most of all on a shared machine), and one thread per process makes a border's
numbers independent of how many run beside it.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import torch

from ..datasets.redgreen import RedGreenSpec, red_green
from ..datasets.splits import SplitProtocol
from ..layers import BORDERS, BorderName
from ..models.tiny import StackedConvMaxNet, red_green_net, seeded_members
from ..training import InMemory, TrainConfig, evaluate, fit, interrupt
from ..training.process_state import torch_threads
from . import Experiment, ExperimentConfig, RunContext, register, unit_key


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """The paper's protocol: Adadelta, batch 200, ≤ 50 epochs, early stopping 8 on val loss, 10 seeds."""

    seeds: int = 10
    borders: tuple[BorderName, ...] = tuple(BORDERS)
    train: TrainConfig = TrainConfig(epochs=50, batch_size=200, optimizer="adadelta", lr=1.0, rho=0.9, eps=1e-6,
                                     weight_decay=5e-5, early_stopping=8, keep_best="val_loss")
    n_train: int = 2000
    n_val: int = 1000
    n_test: int = 1000
    data_seed: int = 0
    split_protocol: SplitProtocol = "disjoint"  # paper: val and test images copied from the training images, as the paper's code
    workers: int = 2  # borders trained at once, each in its own process with one torch thread (CPU)

    def spec(self) -> RedGreenSpec:
        return RedGreenSpec(n_train=self.n_train, n_val=self.n_val, n_test=self.n_test)


#: The paper's Table 1: test accuracy (%) mean ± std over seeds, (similar, dissimilar).
PAPER = {
    "valid": {"similar": (100.0, 0.0), "dissimilar": (0.2, 0.1)},
    "same": {"similar": (99.8, 0.1), "dissimilar": (8.4, 0.7)},
    "same-circular": {"similar": (73.7, 1.0), "dissimilar": (73.7, 1.0)},
    "full": {"similar": (89.7, 0.5), "dissimilar": (89.7, 0.5)},
}


def load_splits(cfg: Config) -> dict[str, InMemory]:
    """The four splits of the red-green data as in-memory tensors."""
    spec = cfg.spec()
    return {split: InMemory(*red_green(spec, cfg.data_seed, split, cfg.split_protocol))
            for split in ("train", "val", "similar", "dissimilar")}


def train_border(cfg: Config, border: str, seeds: list[int], folder: Path, device, resume: bool,
                 splits: dict[str, InMemory], progress=None) -> list[dict]:
    """Train every seed of ``border`` at once; one row per seed with both test accuracies."""
    model = StackedConvMaxNet.from_members(seeded_members(lambda: red_green_net(border), seeds))
    result = fit(model, splits["train"], splits["val"], cfg.train, run_dir=folder, device=device,
                 seed=seeds, members=len(seeds), resume=resume, progress=progress)
    scores = {split: evaluate(model, splits[split], device=device, batch_size=1000, members=len(seeds))["acc"]
              for split in ("similar", "dissimilar")}
    # the loop reports scalars for one member and lists for several
    similar, dissimilar, best = (v if isinstance(v, list) else [v]
                                 for v in (scores["similar"], scores["dissimilar"], result.best_epoch))
    return [{"border": border, "seed": seed, "similar_acc": similar[m], "dissimilar_acc": dissimilar[m],
             "best_epoch": best[m], "epochs_run": _epochs_run(len(result.history), best[m], cfg.train.early_stopping)}
            for m, seed in enumerate(seeds)]


def _epochs_run(epochs: int, best_epoch: int, early_stopping: int) -> int:
    """Epochs a member trained: it stops ``early_stopping`` epochs after its best one."""
    return min(epochs, best_epoch + early_stopping) if early_stopping else epochs


def train_border_unit(cfg: Config, border: str, ctx: RunContext, splits: dict[str, InMemory] | None = None,
                      quiet: bool = False) -> list[dict]:
    """Rows of ``border`` from its unit cache, else trained (in a worker process: one thread, no bars)."""
    if quiet:
        torch.set_num_threads(1)
    splits = splits if splits is not None else load_splits(cfg)
    return ctx.unit(unit_key(border=border), lambda folder: train_border(cfg, border, ctx.seeds, folder, ctx.device, ctx.resume,
                                                        splits, progress=False if quiet else None))


def run(cfg: Config, ctx: RunContext) -> list[dict]:
    borders = list(cfg.borders)
    parallel = cfg.workers > 1 and ctx.device.type == "cpu" and ctx.distributed.world_size == 1
    if not parallel:
        splits = load_splits(cfg)
        with torch_threads(1 if ctx.device.type == "cpu" else 0):
            return [row for border in ctx.progress(borders, desc="red-green borders")
                    for row in train_border_unit(cfg, border, ctx, splits)]
    # fork where there is one (as DataLoader workers do, and like them the workers set one thread
    # first): spawn would re-run the caller's main module, which scripts rarely guard
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    # A stop request of this process reaches the workers through the event; they stop between two
    # batches and the borders not started yet do not start (ctx.unit checks it first).
    stop = interrupt.shared_event(context)
    with ProcessPoolExecutor(min(cfg.workers, len(borders)), mp_context=context, initializer=interrupt.worker_init,
                             initargs=(stop,)) as pool:
        jobs = [pool.submit(train_border_unit, cfg, border, ctx, None, True) for border in borders]
        try:
            for _ in ctx.progress(as_completed(jobs), desc="red-green borders", total=len(jobs)):
                interrupt.check()
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        return [row for job in jobs for row in job.result()]


def check_pattern(summary: list[dict]) -> tuple[bool, str]:
    """valid and same fall below 30 % on the dissimilar set; full and full-exact stay within 2 points."""
    by_border = {row["border"]: row for row in summary}
    missing = [b for b in ("valid", "same", "full", "full-exact") if b not in by_border]
    if missing:
        return False, f"borders {', '.join(missing)} were not run"
    fooled = all(by_border[b]["dissimilar_acc_mean"] < 30.0 for b in ("valid", "same"))
    steady = all(abs(by_border[b]["similar_acc_mean"] - by_border[b]["dissimilar_acc_mean"]) <= 2.0
                 for b in ("full", "full-exact"))
    detail = "; ".join(f"{b} {by_border[b]['similar_acc_mean']:.1f} / {by_border[b]['dissimilar_acc_mean']:.1f}"
                       for b in ("valid", "same", "full", "full-exact"))
    return fooled and steady, (f"similar / dissimilar %: {detail} (paper: valid and same below 30 on dissimilar, "
                               f"full equal on both)")


EXPERIMENT = register(Experiment(
    name="red-green",
    report="fullconv.report.red_green",
    title="Red-green: border handling and absolute position",
    summary="red-left-of-green vs green-left-of-red; the dissimilar test set swaps the bands the classes sit in",
    config_cls=Config,
    presets={
        "paper": {},
        "quick": {"seeds": 3, "train.epochs": 10, "train.early_stopping": 4},
        "ci": {"seeds": 2, "borders": ("valid", "same", "full", "full-exact"), "train.epochs": 6,
               "train.early_stopping": 3,
               "n_train": 1000, "n_val": 500, "n_test": 500},
    },
    run=run,
    group_by=("border",),
    metrics=("similar_acc", "dissimilar_acc", "best_epoch"),
    paper=PAPER,
    check=check_pattern,
))
