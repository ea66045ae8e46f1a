"""Rook patch (Kayhan & van Gemert 2020, §3): one filter finds where the image border is.

Two images hold the same rook glyph, at the upper-left (class 0) and at the bottom-right corner
(class 1). A net of one 5×5 filter (no bias), ReLU, global max pooling and a linear 1→2 layer can
only tell them apart through the border: with ``same`` zero padding the glyph's responses near
the border are cut off differently in the two corners, so the pooled feature differs and the
classes separate. With ``full`` and ``full-exact`` every response survives, the pooled features
are identical and the classes cannot be separated (50 % on every seed).

All seeds of a border train at once as members of one stacked net.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..datasets.rook import rook_images
from ..layers import BorderName
from ..models.tiny import StackedConvMaxNet, rook_net, seeded_members
from ..training import InMemory, TrainConfig, evaluate, fit
from ..utils.io import atomic_write_json
from ..training.process_state import torch_threads
from . import Experiment, ExperimentConfig, RunContext, register, unit_key

BORDERS = ("same", "valid", "same-circular", "full", "full-exact")
#: A unit's training trace, saved for the figures: ``[{"epoch", "filter": [member][5][5], "acc": [member]}]``.
TRACE = "trace.json"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """The paper's protocol: SGD lr 0.1, momentum 0.9, batch 1, 100 epochs, 5 seeds."""

    seeds: int = 5
    borders: tuple[BorderName, ...] = BORDERS
    train: TrainConfig = TrainConfig(epochs=100, batch_size=1, optimizer="sgd", lr=0.1, momentum=0.9, keep_best="last")
    image_size: int = 32
    patch_size: int = 10  # px of the rook patch
    threads: int = 1  # torch threads while training: the steps are far too small to split


#: The paper: one filter with ``same`` padding separates the two corners.
PAPER = {"same": {"train_acc_mean": 100.0, "train_acc_std": 0.0}}


def _snapshot(model: StackedConvMaxNet, data: InMemory, device) -> dict:
    """Training-set loss/accuracy and the weights after an epoch (for the training animation)."""
    metrics = evaluate(model, data, device=device, batch_size=len(data), members=model.members)
    return {**metrics,
            "filter": model.weights[0][:, 0, 0].tolist(),
            "fc_weight": model.fc_weight[:, :, 0].tolist(),
            "fc_bias": model.fc_bias.tolist()}


def save_trace(folder: Path, history: list[dict]) -> Path:
    """Write ``folder/TRACE``, what the training animation draws: per epoch, every member's filter and accuracy.

    ``history`` is ``fit``'s (restored on ``--resume``, so the trace is whole); the file is written
    before the unit's rows, so a cached unit always has it.
    """
    trace = [{"epoch": r["epoch"], "filter": r["val_filter"],
              "acc": r["val_acc"] if isinstance(r["val_acc"], list) else [r["val_acc"]]}  # one member: a scalar
             for r in history]
    path = folder / TRACE
    atomic_write_json(path, trace)
    return path


def train_border(cfg: Config, border: str, seeds: list[int], folder: Path, device, resume: bool) -> list[dict]:
    """Train every seed of ``border`` (stacked) on the two rook images; one row per seed."""
    x, y = rook_images(cfg.image_size, cfg.patch_size)
    data = InMemory(x, y).to(device)
    model = StackedConvMaxNet.from_members(seeded_members(lambda: rook_net(border), seeds), channels_last=False)
    fitted = fit(model, data, None, cfg.train, run_dir=folder, device=device, seed=seeds, members=len(seeds),
                 resume=resume, eval_fn=lambda m: _snapshot(m, data, device))
    save_trace(folder, fitted.history)
    with torch.no_grad():
        logits = model(data.x.unsqueeze(0).expand(len(seeds), *data.x.shape))  # (M, 2 images, 2 logits)
    accuracy = evaluate(model, data, device=device, batch_size=len(data), members=len(seeds))["acc"]
    return [{"border": border, "seed": seed, "train_acc": accuracy[m],
             "class_logit_gap": float((logits[m, 0] - logits[m, 1]).abs().max()),
             "logits": logits[m].tolist()}
            for m, seed in enumerate(seeds)]


def run(cfg: Config, ctx: RunContext) -> list[dict]:
    rows: list[dict] = []
    with torch_threads(cfg.threads):
        for border in ctx.progress(list(cfg.borders), desc="rook borders"):
            rows += ctx.unit(unit_key(border=border), lambda folder: train_border(cfg, border, ctx.seeds, folder, ctx.device,
                                                                 ctx.resume))
    return rows


def check_pattern(summary: list[dict]) -> tuple[bool, str]:
    """``same`` separates the classes on every seed; ``full``/``full-exact`` stay at 50 %."""
    by_border = {row["border"]: row for row in summary}
    missing = [b for b in ("same", "full", "full-exact") if b not in by_border]
    if missing:
        return False, f"borders {', '.join(missing)} were not run"
    same = by_border["same"]
    full = [by_border[b] for b in ("full", "full-exact")]
    separated = same["train_acc_mean"] == 100.0
    blind = all(r["train_acc_mean"] == 50.0 and r["train_acc_std"] == 0.0 for r in full)
    detail = (f"same {same['train_acc_mean']:.1f} ± {same['train_acc_std']:.1f} % (paper 100.0 ± 0.0); "
              + "; ".join(f"{r['border']} {r['train_acc_mean']:.1f} ± {r['train_acc_std']:.1f} %" for r in full)
              + " (expected exactly 50)")
    return separated and blind, detail


EXPERIMENT = register(Experiment(
    name="rook",
    report="fullconv.report.rook",
    title="Rook patch: one filter reads the image border",
    summary="one 5×5 filter tells a rook at the upper-left from one at the bottom-right, through the padding",
    config_cls=Config,
    presets={"paper": {}, "quick": {}, "ci": {"borders": ("same", "full", "full-exact")}},
    run=run,
    group_by=("border",),
    metrics=("train_acc", "class_logit_gap"),
    paper=PAPER,
    check=check_pattern,
))
