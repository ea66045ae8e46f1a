"""The one training loop: ``fit`` trains any model of any experiment, ``evaluate`` measures it.

``fit`` orchestrates three pieces that a custom loop can call too: :class:`TrainState` (what a run
carries across epochs; its ``state_dict`` is the checkpoint), :func:`train_one_epoch` and
:func:`validate`.

What the loop guarantees:
- batch order is a function of (seed, epoch) only; with the RNG states in the checkpoint, a run
  resumed after a kill ends with the same numbers as an uninterrupted one (bit for bit on CPU);
- ``members > 1`` trains M stacked models at once, each with its own batch order, early stopping and
  best weights, with the results of M separate runs;
- SIGINT/SIGTERM under :func:`fullconv.training.interrupt.stop_on_signals` stop it between two
  batches (:class:`~fullconv.training.interrupt.Interrupted`), its last checkpoint intact;
- under torchrun it wraps the model in DDP (with SyncBatchNorm on CUDA), shards the data, reduces
  the metrics over processes (every rank sees the global numbers), and only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from . import distributed, interrupt
from .checkpoint import atomic_write_text, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .data import eval_batches, num_batches, train_batches, InMemory
from .progress import progress as default_progress
from .seed import seed_everything

OPTIMIZERS = ("sgd", "adadelta", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "plateau")
KEEP_BEST = ("val_loss", "val_acc", "last")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, stopping and which weights to keep. Epochs count from 1 in logs."""

    epochs: int
    batch_size: int
    optimizer: str = "sgd"          # sgd | adadelta | adam | adamw
    lr: float = 0.1
    momentum: float = 0.0
    dampening: float = 0.0          # sgd: the gradient enters the momentum buffer with weight 1 - dampening
    nesterov: bool = False
    weight_decay: float = 0.0
    rho: float = 0.9                # adadelta
    eps: float = 1e-6               # adadelta
    schedule: str = "none"          # none | step | cosine | plateau
    step_size: int = 30             # step
    gamma: float = 0.1              # step / plateau factor
    plateau_patience: int = 5       # plateau: epochs without val-loss improvement before lr *= gamma
    plateau_reload_best: bool = False   # plateau: reload the best weights when the lr drops
    min_lr: float = 0.0             # stop once the lr falls below this (0: never)
    early_stopping: int = 0         # stop after this many epochs without val improvement (0: never)
    keep_best: str = "val_loss"     # val_loss | val_acc | last : which weights fit() returns
    warmup_epochs: int = 0          # the lr rises linearly from 0 over this many first epochs
    label_smoothing: float = 0.0    # cross-entropy label smoothing (0: none)
    amp: bool = True                # mixed precision, used only on CUDA
    channels_last: bool = True      # used only on CUDA
    sync_batchnorm: bool = True     # under DDP on CUDA: BatchNorm statistics of the global batch
    num_workers: int = 0

    def __post_init__(self) -> None:
        for name, value, choices in (("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                                     ("keep_best", self.keep_best, KEEP_BEST)):
            if value not in choices:
                raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be at least 1, got epochs={self.epochs}, "
                             f"batch_size={self.batch_size}")
        if self.nesterov and self.momentum <= 0:
            raise ValueError("nesterov=True needs momentum > 0")
        if self.nesterov and self.dampening:
            raise ValueError("nesterov=True needs dampening=0 (PyTorch's SGD refuses the combination)")
        if not 0.0 <= self.dampening < 1.0:
            raise ValueError(f"dampening must be in [0, 1); got {self.dampening}")


@dataclass
class FitResult:
    """What ``fit`` returns.

    ``model`` holds the kept weights (see ``TrainConfig.keep_best``); ``best_epoch`` is the kept epoch
    (1-based; one per member when members > 1); ``history`` one dict per epoch (the log lines);
    ``best`` the history entry of the kept epoch (per member: that member's values).
    """

    model: nn.Module
    best_epoch: int | list[int]
    history: list[dict]
    best: dict | list[dict] = field(default_factory=dict)


# ----------------------------------------------------------------------------- losses and metrics

def cross_entropy(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Per-sample cross entropy. logits: (..., K), y: (...) -> (...)."""
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                             reduction="none", label_smoothing=label_smoothing)
    return losses.view(y.shape)


def _batch_stats(out: torch.Tensor, y: torch.Tensor, losses: torch.Tensor, members: int) -> torch.Tensor:
    """(members, 3) float64 sums of this batch: loss·count, correct predictions (NaN: no accuracy), count.

    ``losses`` is per sample ((B,) or (M, B)) or per batch (() or (M,)): a batch mean counts for B samples.
    """
    batch = y.shape[1] if members > 1 else y.shape[0]
    losses = losses.detach().double().reshape(members, -1)
    loss_sum = losses.sum(1) if losses.shape[1] == batch else losses[:, 0] * batch
    if not y.is_floating_point() and out.shape[:-1] == y.shape:
        correct = (out.detach().argmax(-1) == y).reshape(members, batch).sum(1).double()
    else:
        correct = torch.full((members,), math.nan, dtype=torch.float64, device=losses.device)
    count = torch.full((members,), float(batch), dtype=torch.float64, device=losses.device)
    return torch.stack([loss_sum, correct, count], 1)


def _member_loss(losses: torch.Tensor, members: int) -> torch.Tensor:
    """(members,) mean loss of each member's batch."""
    return losses.reshape(members, -1).mean(1)


def _metrics(sums: torch.Tensor, members: int, prefix: str = "") -> dict:
    """{"loss", "acc"} from summed stats; acc in %, None without accuracy; per-member lists when members > 1."""
    sums = distributed.all_reduce_sum(sums).cpu()
    loss = (sums[:, 0] / sums[:, 2]).tolist()
    acc = [None if math.isnan(c) else 100.0 * c / n for c, n in zip(sums[:, 1].tolist(), sums[:, 2].tolist())]
    if members == 1:
        return {f"{prefix}loss": loss[0], f"{prefix}acc": acc[0]}
    return {f"{prefix}loss": loss, f"{prefix}acc": acc}


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, data, *, device, batch_size: int, members: int = 1, loss_fn=None,
             amp: bool = False, num_workers: int = 0) -> dict:
    """Mean loss and accuracy (%) of ``model`` on ``data``, over all processes under torch.distributed.

    Args:
        model: maps x: (B, ...) to logits (B, K); with ``members > 1`` x: (M, B, ...) to (M, B, K).
        data: an :class:`InMemory` or a Dataset of (x, y).
        loss_fn: ``loss_fn(output, y)`` -> per-sample losses; default cross entropy.

    Returns:
        ``{"loss": float, "acc": float | None}`` (acc None when outputs are not class scores for y);
        lists of one value per member when ``members > 1``.
    """
    device = torch.device(device)
    loss_fn = loss_fn or cross_entropy
    dist = distributed.info()
    model.eval()
    sums = torch.zeros(members, 3, dtype=torch.float64, device=device)
    for x, y in eval_batches(data, batch_size, device=device, members=members, num_workers=num_workers,
                             rank=dist.rank, world_size=dist.world_size):
        with _autocast(device, amp):
            out = model(x)
            losses = loss_fn(out, y)
        sums += _batch_stats(out, y, losses, members)
        interrupt.check()
    return _metrics(sums, members)


# ----------------------------------------------------------------------------- optimiser and schedule

def make_optimizer(params: Iterable[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser named by ``cfg.optimizer``."""
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, dampening=cfg.dampening,
                               nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class LrSchedule:
    """Learning rate per epoch: warmup, then none/step/cosine as functions of the epoch, or reduce-on-plateau."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.plateau_lr = cfg.lr
        self.plateau_best = math.inf
        self.plateau_bad = 0

    def lr(self, epoch: int) -> float:
        """Learning rate of ``epoch`` (0-based)."""
        cfg = self.cfg
        if epoch < cfg.warmup_epochs:
            return cfg.lr * (epoch + 1) / cfg.warmup_epochs
        t = epoch - cfg.warmup_epochs
        if cfg.schedule == "step":
            return cfg.lr * cfg.gamma ** (t // cfg.step_size)
        if cfg.schedule == "cosine":
            return 0.5 * cfg.lr * (1 + math.cos(math.pi * t / max(1, cfg.epochs - cfg.warmup_epochs)))
        if cfg.schedule == "plateau":
            return self.plateau_lr
        return cfg.lr

    def plateau_step(self, loss: float) -> bool:
        """Record one epoch's monitored loss; True when the lr was just reduced."""
        if self.cfg.schedule != "plateau":
            return False
        if loss < self.plateau_best:
            self.plateau_best, self.plateau_bad = loss, 0
            return False
        self.plateau_bad += 1
        if self.plateau_bad < self.cfg.plateau_patience:
            return False
        self.plateau_lr *= self.cfg.gamma
        self.plateau_bad = 0
        return True

    def state_dict(self) -> dict:
        return {"plateau_lr": self.plateau_lr, "plateau_best": self.plateau_best, "plateau_bad": self.plateau_bad}

    def load_state_dict(self, state: dict) -> None:
        self.plateau_lr, self.plateau_best, self.plateau_bad = state["plateau_lr"], state["plateau_best"], state["plateau_bad"]


# ----------------------------------------------------------------------------- the loop's pieces

def _trainable_modules(model: nn.Module, trainable) -> list[nn.Module]:
    """The modules that train; everything else is frozen (no grad, BatchNorm in eval mode)."""
    if trainable is None:
        return [model]
    modules = [trainable] if isinstance(trainable, nn.Module) else list(trainable)
    owned = {id(m) for m in model.modules()}
    for module in modules:
        if not isinstance(module, nn.Module) or id(module) not in owned:
            raise ValueError("trainable must be submodules of the model (e.g. model.fc), "
                             f"got {type(module).__name__}")
    return modules


def _freeze_outside(model: nn.Module, modules: list[nn.Module]) -> list[nn.Parameter]:
    """Set requires_grad on the parameters of ``modules`` only; returns them."""
    trained = {id(p) for m in modules for p in m.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in trained)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: the trainable modules have no parameters")
    return params


def _train_mode(model: nn.Module, modules: list[nn.Module]) -> None:
    model.eval()
    for module in modules:
        module.train()


def _member_seeds(seed: int | Sequence[int], members: int) -> list[int]:
    if isinstance(seed, int):
        return [seed + m for m in range(members)]
    seeds = [int(s) for s in seed]
    if len(seeds) != members:
        raise ValueError(f"got {len(seeds)} seeds for {members} members; give one seed per member")
    return seeds


def _check_stacked(model: nn.Module, members: int) -> None:
    for name, tensor in model.state_dict().items():
        if tensor.ndim > 0 and tensor.shape[0] != members:
            raise ValueError(f"members={members} needs the member axis first in every parameter and buffer, "
                             f"but {name} has shape {tuple(tensor.shape)}")


def _member_values(record: dict, m: int, members: int) -> dict:
    """Member m's values of a history record (records hold lists when members > 1)."""
    if members == 1:
        return dict(record)
    return {k: (v[m] if isinstance(v, list) else v) for k, v in record.items()}


@dataclass
class _Tracker:
    """Best-epoch bookkeeping of one member (plain values: goes into the checkpoint)."""

    best: float = math.nan
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False

    def update(self, value: float, epoch: int, maximise: bool) -> bool:
        """Record ``value`` of ``epoch`` (1-based); True when it is the best so far."""
        better = math.isnan(self.best) or (value > self.best if maximise else value < self.best)
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return better


def _copy_member(dst: dict, src: dict, m: int, members: int) -> None:
    """Copy member m's slice of every tensor of state dict ``src`` into ``dst``."""
    for key, value in src.items():
        if members == 1 or value.ndim == 0:
            dst[key].copy_(value)
        else:
            dst[key][m].copy_(value[m])


def _clone_state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def sync_batchnorm(model: nn.Module, cfg: TrainConfig, device: torch.device, world_size: int,
                   members: int = 1) -> nn.Module:
    """``model`` with SyncBatchNorm in place of its BatchNorm layers when it trains under DDP on CUDA.

    Every process then normalises with the statistics of the global batch, as one process training
    on that batch would. Parameters and buffers are shared with the layers replaced, so state_dict
    keys and values stay the same. PyTorch's SyncBatchNorm runs on GPUs only: on CPU (gloo), with
    one process, for stacked members or with ``cfg.sync_batchnorm`` off, ``model`` is returned as is.
    """
    if cfg.sync_batchnorm and world_size > 1 and device.type == "cuda" and members == 1:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


# ----------------------------------------------------------------------------- state, epoch, validation

def _channels_last(cfg: TrainConfig, device: torch.device, members: int) -> bool:
    """Whether 4-D inputs and the model go channels-last: on CUDA only, and not for stacked members."""
    return cfg.channels_last and device.type == "cuda" and members == 1


def _loss_fn(loss_fn: Callable | None, cfg: TrainConfig) -> Callable:
    """``loss_fn``, or the default: cross entropy with ``cfg.label_smoothing``."""
    return loss_fn or partial(cross_entropy, label_smoothing=cfg.label_smoothing)


@dataclass(eq=False)
class TrainState:
    """What one run carries from epoch to epoch; its ``state_dict`` is the run's checkpoint.

    ``model`` is the unwrapped model (not its DDP wrapper); ``schedule`` the :class:`LrSchedule`;
    ``scaler`` the CUDA GradScaler (None on CPU); ``trackers`` one per member: best monitored value,
    best epoch (1-based, 0 before the first), epochs without improvement, stopped; ``best_state`` the
    kept weights (a state dict of ``model``, per member along axis 0 when members > 1);
    ``history`` one record per finished epoch; ``done`` true once training is over.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    scaler: torch.amp.GradScaler | None
    trackers: list[_Tracker]
    best_state: dict
    history: list[dict] = field(default_factory=list)
    done: bool = False

    @classmethod
    def start(cls, model: nn.Module, optimizer: torch.optim.Optimizer, cfg: TrainConfig, *, members: int = 1,
              scaler: torch.amp.GradScaler | None = None) -> TrainState:
        """A fresh run's state: no epoch done yet, the kept weights those of ``model`` as it is now."""
        return cls(model, optimizer, LrSchedule(cfg), scaler, [_Tracker() for _ in range(members)], _clone_state(model))

    @property
    def epoch(self) -> int:
        """Epochs finished (the 0-based index of the next one)."""
        return len(self.history)

    def active_members(self) -> list[int]:
        """The members that still train (not stopped early)."""
        return [m for m, t in enumerate(self.trackers) if not t.stopped]

    def set_lr(self, epoch: int) -> float:
        """Give every parameter group the schedule's learning rate of ``epoch`` (0-based); returns it."""
        lr = self.schedule.lr(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def end_epoch(self, record: dict, cfg: TrainConfig, *, validated: bool) -> None:
        """Append ``record`` (one epoch's log line) and keep the best weights, stop members, step the plateau.

        ``validated``: the record has ``val_`` metrics, which stopping, plateau and keep-best then watch
        (else the ``train_`` ones).
        """
        self.history.append(record)
        epoch, members = len(self.history), len(self.trackers)
        monitor = "val_loss" if cfg.keep_best == "last" else cfg.keep_best
        if not validated:
            monitor = monitor.replace("val_", "train_")
        current = self.model.state_dict()
        for m, tracker in enumerate(self.trackers):
            if tracker.stopped:
                continue
            values = _member_values(record, m, members)
            improved = tracker.update(values[monitor], epoch, monitor.endswith("acc"))
            if improved or cfg.keep_best == "last":
                _copy_member(self.best_state, current, m, members)
                if cfg.keep_best == "last":
                    tracker.best_epoch = epoch
            if cfg.early_stopping and tracker.bad_epochs >= cfg.early_stopping:
                tracker.stopped = True
        if self.schedule.plateau_step(record["val_loss" if validated else "train_loss"]) and cfg.plateau_reload_best:
            self.model.load_state_dict(self.best_state)
        if cfg.min_lr > 0 and epoch < cfg.epochs and self.schedule.lr(epoch) < cfg.min_lr:
            for tracker in self.trackers:
                tracker.stopped = True
        self.done = all(t.stopped for t in self.trackers) or epoch == cfg.epochs

    def result(self) -> FitResult:
        """Load the kept weights into ``model``; the :class:`FitResult` of the run."""
        self.model.load_state_dict(self.best_state)
        members = len(self.trackers)
        best_epochs = [t.best_epoch for t in self.trackers]
        best = [_member_values(self.history[e - 1], m, members) if e else {} for m, e in enumerate(best_epochs)]
        if members == 1:
            return FitResult(self.model, best_epochs[0], self.history, best[0])
        return FitResult(self.model, best_epochs, self.history, best)

    def state_dict(self) -> dict:
        """The checkpoint: every field, plus the current state of the global RNGs (``rng``).

        Tensors are the live ones (as ``nn.Module.state_dict``): save or copy the dict before training on.
        """
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "best_state": self.best_state, "trackers": [asdict(t) for t in self.trackers],
                "history": self.history, "done": self.done, "rng": rng_state()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`'s ``state``: every field, and the global RNGs."""
        # Training on must not change the caller's dict: the optimiser would keep its state tensors
        # (momentum buffers) as given and update them in place, so it gets a copy.
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.schedule.load_state_dict(state["schedule"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        for key, tensor in self.best_state.items():
            tensor.copy_(state["best_state"][key])
        self.trackers = [_Tracker(**t) for t in state["trackers"]]
        self.history, self.done = list(state["history"]), state["done"]
        set_rng_state(state["rng"])


def train_one_epoch(model: nn.Module, train, optimizer: torch.optim.Optimizer, cfg: TrainConfig, *, epoch: int,
                    seed: int | Sequence[int], device, loss_fn: Callable | None = None, members: int = 1,
                    active: Sequence[int] | None = None, trainable=None, scaler: torch.amp.GradScaler | None = None,
                    progress=None) -> dict:
    """One pass over ``train`` in the batch order of (seed, epoch), one optimiser step per batch.

    The learning rate is the optimiser's as it stands (see :meth:`TrainState.set_lr`).

    Args:
        model: maps x: (B, ...) to logits (B, K); with ``members = M > 1`` x: (M, B, ...) to (M, B, K).
            Under torchrun pass its DDP wrapper, so that the gradients are averaged over processes.
        train: :class:`InMemory` (on ``device`` already, for speed) or a Dataset of (x, y); each
            process trains on its shard.
        optimizer: steps the trainable parameters (those with requires_grad).
        cfg: batch size, workers, label smoothing of the default loss, and on CUDA amp and channels_last.
        epoch: 0-based; with ``seed`` it fixes the batch order.
        seed: the batch-order seed, or one per member (an int gives member m ``seed + m``).
        loss_fn: ``loss_fn(output, y)`` -> per-sample losses ((B,) or (M, B)) or a batch mean (() or
            (M,)); default cross entropy with ``cfg.label_smoothing``.
        active: the members whose mean losses are summed into the training loss (default all); the
            others still run forward but get no gradient from the loss.
        trainable: the submodule(s) put in train mode; the rest of the model stays in eval mode
            (None: the whole model trains).
        scaler: a GradScaler for float16 autocast on CUDA, else None.
        progress: as in :func:`fit`.

    Returns:
        ``{"train_loss": float, "train_acc": float | None}`` over the epoch (acc in %, over all
        processes); lists of one value per member when ``members > 1``.
    """
    device = torch.device(device)
    loss_fn = _loss_fn(loss_fn, cfg)
    dist = distributed.info()
    amp = cfg.amp and device.type == "cuda"
    channels_last = _channels_last(cfg, device, members)
    unwrapped = model.module if isinstance(model, DistributedDataParallel) else model
    _train_mode(unwrapped, _trainable_modules(unwrapped, trainable))
    active = list(range(members)) if active is None else list(active)
    active_index = torch.tensor(active, device=device)
    sums = torch.zeros(members, 3, dtype=torch.float64, device=device)
    batches = train_batches(train, cfg.batch_size, _member_seeds(seed, members), epoch, device=device,
                            num_workers=cfg.num_workers, rank=dist.rank, world_size=dist.world_size)
    bar = default_progress if progress is None else progress
    if bar is not False:
        batches = bar(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                      total=num_batches(len(train), cfg.batch_size, dist.world_size))
    for x, y in batches:
        if channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            out = model(x)
            losses = loss_fn(out, y)
        member_loss = _member_loss(losses, members)
        # Stopped members drop out of the loss, so a diverging one cannot disturb the others.
        loss = member_loss.sum() if len(active) == members else member_loss[active_index].sum()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        sums += _batch_stats(out, y, losses, members)
        # Stop between batches: the last checkpoint is the previous epoch's, resumed bit for bit.
        interrupt.check()
    return _metrics(sums, members, "train_")


def validate(model: nn.Module, val, cfg: TrainConfig, *, device, members: int = 1, loss_fn: Callable | None = None,
             eval_fn: Callable[[nn.Module], dict] | None = None) -> dict:
    """One epoch's validation metrics, ``val_``-prefixed: ``eval_fn(model)``, else :func:`evaluate` on ``val``.

    Args:
        model: maps x: (B, ...) to logits (B, K); with ``members = M > 1`` x: (M, B, ...) to (M, B, K).
        val: :class:`InMemory` or a Dataset of (x, y); batched by ``cfg.batch_size`` with
            ``cfg.num_workers`` workers, autocast on CUDA when ``cfg.amp``.
        loss_fn: as in :func:`train_one_epoch` (default cross entropy with ``cfg.label_smoothing``).
        eval_fn: ``eval_fn(model) -> {"loss": ..., "acc": ...}`` in place of ``evaluate(model, val)``.

    Returns:
        ``{"val_loss": ..., "val_acc": ...}`` (per-member lists when ``members > 1``); ``{}`` when
        ``val`` and ``eval_fn`` are both None.
    """
    if eval_fn is None and val is None:
        return {}
    metrics = eval_fn(model) if eval_fn is not None else evaluate(
        model, val, device=device, batch_size=cfg.batch_size, members=members, loss_fn=_loss_fn(loss_fn, cfg),
        amp=cfg.amp and torch.device(device).type == "cuda", num_workers=cfg.num_workers)
    return {f"val_{k}": v for k, v in metrics.items()}


# ----------------------------------------------------------------------------- fit

def fit(model: nn.Module, train, val, cfg: TrainConfig, *, run_dir: Path | str, device, seed: int | Sequence[int],
        loss_fn: Callable | None = None, trainable=None, members: int = 1, progress=None, resume: bool = False,
        eval_fn: Callable[[nn.Module], dict] | None = None) -> FitResult:
    """Train ``model`` on ``train``, validating on ``val`` after every epoch.

    Each epoch is :func:`train_one_epoch`, :func:`validate` and :meth:`TrainState.end_epoch`; the
    checkpoint is :meth:`TrainState.state_dict`.

    Args:
        model: maps x: (B, ...) to logits (B, K); with ``members = M > 1``, every parameter and buffer
            has the member axis first and the model maps x: (M, B, ...) to (M, B, K).
        train, val: :class:`InMemory` (moved to ``device`` once, batched by indexing) or a Dataset of
            (x, y) (DataLoader with ``cfg.num_workers`` workers). ``val`` may be None: then stopping,
            plateau and keep-best watch the training metrics instead.
        run_dir: gets ``log.jsonl`` (one line per epoch) and ``checkpoint.pt`` (after every epoch).
        device: where to train; on CUDA ``cfg.amp`` and ``cfg.channels_last`` apply.
        seed: seeds the batch order and the global RNGs (dropout, augmentation); with members an int
            gives member m the seed ``seed + m``, or pass one seed per member.
        loss_fn: ``loss_fn(output, y)`` -> per-sample losses ((B,) or (M, B)) or a batch mean (() or
            (M,)); default cross entropy with ``cfg.label_smoothing``. The training loss is the sum
            of the members' mean losses.
        trainable: a submodule or a list of submodules that train; the rest is frozen (no grad, its
            BatchNorm layers stay in eval mode). None: everything trains.
        progress: None for the default bar (quiet off a terminal), False for none, or a callable
            like :func:`fullconv.training.progress.progress`.
        resume: continue from ``run_dir/checkpoint.pt`` when it exists (else start fresh); a fresh
            start overwrites both files.
        eval_fn: ``eval_fn(model) -> {"loss": ..., "acc": ...}`` replaces ``evaluate(model, val)``.

    Returns:
        :class:`FitResult` with the kept weights loaded into ``model`` (unwrapped from DDP; under DDP
        on CUDA its BatchNorm layers are SyncBatchNorm, see :func:`sync_batchnorm`).
    """
    device = torch.device(device)
    run_dir = Path(run_dir)
    dist = distributed.info()
    seeds = _member_seeds(seed, members)
    if members > 1:
        _check_stacked(model, members)
        if cfg.schedule == "plateau":
            raise ValueError("schedule 'plateau' changes one learning rate for all members; train with members=1")
    loss_fn = _loss_fn(loss_fn, cfg)
    on_cuda = device.type == "cuda"

    model.to(device)
    if _channels_last(cfg, device, members):
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(_freeze_outside(model, _trainable_modules(model, trainable)), cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and not torch.cuda.is_bf16_supported()) if on_cuda else None
    state = TrainState.start(model, optimizer, cfg, members=members, scaler=scaler)
    if isinstance(train, InMemory):
        train = train.to(device)
    if isinstance(val, InMemory):
        val = val.to(device)

    checkpoint_path, log_path = run_dir / "checkpoint.pt", run_dir / "log.jsonl"
    if resume and checkpoint_path.exists():
        state.load_state_dict(load_checkpoint(checkpoint_path, map_location=device))
    else:
        seed_everything(seeds[0])
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(log_path, "".join(json.dumps(r) + "\n" for r in state.history))

    state.model = sync_batchnorm(model, cfg, device, dist.world_size, members)
    net = state.model
    if dist.world_size > 1:
        net = DistributedDataParallel(state.model, device_ids=[device.index] if on_cuda else None)

    for epoch in range(state.epoch, cfg.epochs):
        if state.done:
            break
        start = time.perf_counter()
        lr = state.set_lr(epoch)
        record = {"epoch": epoch + 1, "lr": lr, **train_one_epoch(
            net, train, optimizer, cfg, epoch=epoch, seed=seeds, device=device, loss_fn=loss_fn, members=members,
            active=state.active_members(), trainable=trainable, scaler=scaler, progress=progress)}
        record.update(validate(state.model, val, cfg, device=device, members=members, loss_fn=loss_fn,
                               eval_fn=eval_fn))
        record["time"] = time.perf_counter() - start
        state.end_epoch(record, cfg, validated=val is not None or eval_fn is not None)
        if dist.is_main:
            save_checkpoint(checkpoint_path, state.state_dict())
            with open(log_path, "a") as log:
                log.write(json.dumps(record) + "\n")
    return state.result()
