"""Small-data action recognition (paper §5.5): full convolution in 3D ResNets trained from scratch.

Each 3D ResNet is trained as ``same`` (torchvision's zero padding in time and space), ``full`` over
height and width, ``full`` over time, height and width, and ``full-exact`` over all three; rows
report the last epoch's train and validation clip accuracy, with the per-epoch curves.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import product
from pathlib import Path

import torch

from ..convert import convert
from ..datasets.augment import RandomCrops, centre_crop
from ..datasets.moving import moving_items
from ..datasets.splits import split_seed
from ..datasets.video import ClipTransform, video_dataset
from ..models import create
from ..models.heads import check_head
from ..models.resnet3d import DEPTHS
from ..training import InMemory, TrainConfig, evaluate, fit
from . import Experiment, ExperimentConfig, RunContext, register, unit_key
from .stats import by_seed, paired_effect

#: Variants as ``border:dims``; ``same`` is the unconverted network (zero padding in time and space).
VARIANTS = ("same:spacetime", "full:spatial", "full:spacetime", "full-exact:spacetime")
DATASETS = {"ucf101": 101, "hmdb51": 51, "moving": None}

#: Clip accuracy (%) on split 1 (paper, action-recognition table). Where the paper gives one ``full``
#: number, the issue does not say over which dims: ``dims`` is None.
PAPER = [
    {"dataset": dataset, "depth": depth, "border": border, "dims": dims, "val_acc": acc}
    for dataset, table in {
        "ucf101": {18: (38.6, 40.6, 42.2), 34: (37.0, None, 46.9), 50: (36.2, None, 44.1)},
        "hmdb51": {18: (16.1, None, 19.3), 34: (15.2, None, 18.3), 50: (14.3, None, 19.0)},
    }.items()
    for depth, (same, spatial, full) in table.items()
    for border, dims, acc in (("same", "spacetime", same), ("full", "spatial", spatial),
                              ("full", "spacetime" if spatial is not None else None, full))
    if acc is not None
]


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults: the paper's protocol; each comment names the source of the value.

    Sources: Kayhan & van Gemert's ``full_conv/Exp5_small_datasets/action_recognition`` (built on
    Hara et al.'s 3D-ResNets-PyTorch): ``opts.py`` defaults, the README's commands
    (``--batch_size 32``) and the model files ``resnet_fconv.py`` / ``resnet_fconv_tem.py``.
    """

    seeds: int = 1
    datasets: tuple[str, ...] = ("ucf101", "hmdb51")  # ucf101 | hmdb51 (need --data) | moving
    depths: tuple[int, ...] = (18, 34, 50)  # the paper's table; opts.py --model_depth
    width: int = 64                      # channels of the first stage (64 in Hara's ResNet)
    variants: tuple[str, ...] = VARIANTS  # border:dims pairs, dims spatial (height, width) or spacetime
    stem: str = "hara"                   # 7×7×7 conv stride (1, 2, 2) pad 3, 3×3×3/2 max pool (resnet.py)
    full_time_stride: int = 2            # resnet_fconv_tem.py: spatio-temporal F-Conv stem strides 2 in time
    linear_init: str = "default"         # Hara's ResNet keeps PyTorch's nn.Linear init for fc
    head: str = "gap"                    # AdaptiveAvgPool3d(1), then fc, as the paper
    fold: int = 1                        # split 1 (ucf101_01.json)
    frames: int = 16                     # opts.py --sample_duration 16
    size: int = 112                      # opts.py --sample_size 112
    train_crop: str = "corner"           # opts.py --train_crop corner: multi-scale corner crops (5 scales)
    flip: bool = True                    # Hara's training flips (no --no_hflip)
    # moving items (quick data set)
    train_clips: int = 120               # moving: training clips per class
    val_clips: int = 200                 # moving: validation clips in all
    classes: int = 6                     # moving: motion classes (directions)
    item_size: int = 14                  # moving: px of the Fashion-MNIST item that moves
    noise: float = 0.15                  # per-pixel Gaussian noise of the clips
    margin: int = 0                      # moving: clips are made margin px wider and taller, then cropped to size
    time_margin: int = 0                 # moving: and time_margin frames longer, then cropped to frames
    # training
    train: TrainConfig = TrainConfig(
        epochs=200,                      # opts.py --n_epochs 200
        batch_size=32,                   # README commands: --batch_size 32 (opts.py default 128)
        optimizer="sgd",                 # main.py: SGD
        lr=0.1,                          # opts.py --learning_rate 0.1
        momentum=0.9,                    # opts.py --momentum 0.9
        dampening=0.9,                   # opts.py --dampening 0.9
        weight_decay=1e-3,               # opts.py --weight_decay 1e-3
        schedule="plateau",              # main.py: ReduceLROnPlateau on the validation loss
        plateau_patience=10,             # opts.py --lr_patience 10
        keep_best="last",                # the last epoch: the validation split is the official test list
        num_workers=4,                   # opts.py --n_threads 4
    )
    val_curves: bool = True              # validate after every epoch (False: only after the last; plateau needs it)


def parse_variant(variant: str) -> tuple[str, str]:
    """``'full:spatial'`` -> ``('full', 'spatial')``; raises on unknown names."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from: {', '.join(VARIANTS)}")
    border, dims = variant.split(":")
    return border, dims


def check_config(cfg: Config, data: str | None) -> None:
    for name in cfg.datasets:
        if name not in DATASETS:
            raise ValueError(f"unknown data set {name!r}; choose from: {', '.join(DATASETS)}")
        if DATASETS[name] and data is None:
            raise ValueError(f"{name} is read from disk: pass --data PATH (official video archives, needs "
                             f"'pip install fullconv[video]') or --data frames:PATH, or use the quick preset")
    for depth in cfg.depths:
        if depth not in DEPTHS:
            raise ValueError(f"unknown 3D ResNet depth {depth}; choose from: {', '.join(map(str, DEPTHS))}")
    for variant in cfg.variants:
        parse_variant(variant)
    check_head(cfg.head)
    if not cfg.val_curves and cfg.train.schedule == "plateau":
        raise ValueError("schedule=plateau steps on the validation loss of every epoch: keep val_curves=true")
    if cfg.margin < 0 or cfg.time_margin < 0:
        raise ValueError(f"margin and time_margin must be >= 0; got {cfg.margin}, {cfg.time_margin}")


def build_model(cfg: Config, dataset: str, depth: int, border: str, dims: str, seed: int,
                num_classes: int, in_channels: int) -> torch.nn.Module:
    """The 3D ResNet of one variant; every variant of a seed starts from the same weights.

    Full convolution over time also strides the stem ``full_time_stride`` in time, as the paper's
    spatio-temporal F-Conv network did (the stride leaves the weights' shapes unchanged).
    """
    torch.manual_seed(split_seed(seed, "action-init", dataset, depth))
    time_stride = cfg.full_time_stride if border != "same" and dims == "spacetime" else 1
    model = create("resnet3d", depth=depth, num_classes=num_classes, width=cfg.width, in_channels=in_channels,
                   stem=cfg.stem, stem_time_stride=time_stride, linear_init=cfg.linear_init, head=cfg.head)
    return model if border == "same" else convert(model, border, dims=dims)


def make_data(cfg: Config, dataset: str, data: str | None, seed: int):
    """(train, val, num_classes, in_channels) of one data set."""
    if dataset == "moving":
        splits = _moving(cfg.train_clips, cfg.val_clips, cfg.frames + cfg.time_margin, cfg.size + cfg.margin,
                         cfg.item_size, cfg.classes, cfg.noise, seed)
        if not cfg.margin and not cfg.time_margin:
            return InMemory(*splits["train"]), InMemory(*splits["val"]), cfg.classes, 1
        shape = (cfg.frames, cfg.size, cfg.size)
        train = RandomCrops(*splits["train"], shape, flip=cfg.flip)
        clips, labels = splits["val"]
        return train, InMemory(centre_crop(clips, shape), labels), cfg.classes, 1
    train_transform = ClipTransform(train=True, size=cfg.size, crop=cfg.train_crop, flip=cfg.flip)
    train = video_dataset(data, dataset, train=True, fold=cfg.fold, frames_per_clip=cfg.frames,
                          transform=train_transform)
    val = video_dataset(data, dataset, train=False, fold=cfg.fold, frames_per_clip=cfg.frames,
                        transform=ClipTransform(train=False, size=cfg.size))
    return train, val, DATASETS[dataset], 3


@lru_cache(maxsize=2)
def _moving(train: int, val: int, frames: int, size: int, item_size: int, classes: int, noise: float, seed: int):
    return moving_items({"train": train, "val": val}, seed, frames=frames, size=size, item_size=item_size,
                        classes=classes, noise=noise)


def train_variant(run_dir: Path, cfg: Config, ctx: RunContext, dataset: str, depth: int, border: str, dims: str,
                  seed: int) -> dict:
    """Train one (data set, depth, variant, seed) model into ``run_dir``; its row with the epoch curves."""
    train, val, num_classes, in_channels = make_data(cfg, dataset, ctx.data, seed)
    model = build_model(cfg, dataset, depth, border, dims, seed, num_classes, in_channels)
    result = fit(model, train, val if cfg.val_curves else None, cfg.train, run_dir=run_dir,
                 device=ctx.device, seed=seed, progress=ctx.progress, resume=ctx.resume)
    last = result.history[-1]
    val_acc = last["val_acc"] if cfg.val_curves else evaluate(result.model, val, device=ctx.device,
                                                               batch_size=cfg.train.batch_size)["acc"]
    return {"dataset": dataset, "depth": depth, "border": border, "dims": dims, "seed": seed,
            "train_acc": last["train_acc"], "val_acc": val_acc, "train_loss": last["train_loss"],
            "epochs": len(result.history),
            "curve_train_acc": [epoch["train_acc"] for epoch in result.history],
            "curve_val_acc": [epoch["val_acc"] for epoch in result.history] if cfg.val_curves else []}


def run(cfg: Config, ctx: RunContext) -> list[dict]:
    check_config(cfg, ctx.data)
    rows = []
    for dataset, depth, variant, seed in product(cfg.datasets, cfg.depths, cfg.variants, ctx.seeds):
        border, dims = parse_variant(variant)
        ctx.log(f"{dataset} depth {depth} {border} over {dims} seed {seed}")
        rows.append(ctx.unit(unit_key(dataset=dataset, depth=depth, border=border, dims=dims, seed=seed),
                             partial(train_variant, cfg=cfg, ctx=ctx, dataset=dataset, depth=depth, border=border,
                                     dims=dims, seed=seed)))
    return rows


def check_pattern(summary: list[dict]) -> tuple[bool, str]:
    """Paper: full convolution (over space, and more so over space and time) beats same on held-out clips."""
    groups: dict[tuple, dict[tuple, float]] = {}
    for row in summary:
        groups.setdefault((row["dataset"], row["depth"]), {})[(row["border"], row["dims"])] = row["val_acc_mean"]
    wins, parts = [], []
    for (dataset, depth), acc in sorted(groups.items()):
        same = acc.get(("same", "spacetime"))
        fulls = {dims: acc[("full", dims)] for dims in ("spatial", "spacetime") if ("full", dims) in acc}
        if same is None or not fulls:
            continue
        wins += [full > same for full in fulls.values()]
        parts.append(f"{dataset} d{depth}: same {same:.1f}, " + ", ".join(
            f"full {dims} {full:.1f}" for dims, full in fulls.items()))
    if not wins:
        return False, "no same/full pair to compare"
    verdict = "full beats same in every pair" if all(wins) else f"full beats same in {sum(wins)}/{len(wins)} pairs"
    return all(wins), f"{verdict} (val acc: {'; '.join(parts)})"


def effects(rows: list[dict]) -> list[dict]:
    """Validation accuracy of every full variant minus ``same``, paired by seed, per data set and depth.

    The paper's claim: ``full`` over space and ``full`` over space and time ahead of ``same``;
    ``full-exact`` (ours) is shown, not judged.
    """
    out = []
    for dataset, depth in dict.fromkeys((r["dataset"], r["depth"]) for r in rows):
        same = by_seed(rows, "val_acc", dataset=dataset, depth=depth, border="same")
        for variant in VARIANTS[1:]:
            border, dims = parse_variant(variant)
            out.append(paired_effect("val_acc", f"{dataset} d{depth} {border} over {dims} − same",
                                     by_seed(rows, "val_acc", dataset=dataset, depth=depth, border=border, dims=dims),
                                     same, claim=border == "full"))
    return [e for e in out if e is not None]


#: The quick proxy. Items visible (noise 0.05) and moving on 36×36×20 clips, trained on random
#: 32×32×16 crops without flips (a flip swaps left and right motions), 600 validation clips. same
#: against full over space and time with the stem striding 2 in time, as the paper; bnneck, the
#: default classifier init and dampened SGD keep full from merely training slower.
QUICK = {"datasets": ("moving",), "depths": (10,), "width": 8, "frames": 16, "size": 32, "margin": 4,
         "time_margin": 4, "noise": 0.05, "flip": False, "train_clips": 160, "val_clips": 600,
         "variants": ("same:spacetime", "full:spacetime"), "seeds": 4, "head": "bnneck",
         "train.epochs": 25, "train.batch_size": 32, "train.lr": 0.1, "train.schedule": "cosine",
         "val_curves": False, "train.num_workers": 0}


EXPERIMENT = register(Experiment(
    name="action",
    report="fullconv.report.action",
    takes_data=lambda cfg: any(DATASETS[name] for name in cfg.datasets),
    inputs_hint="--set datasets=ucf101 or hmdb51", validate=lambda cfg, ctx: check_config(cfg, ctx.data),
    title="Small-data action recognition: spatial and spatio-temporal full convolution",
    summary="small-data action recognition: 3D ResNets as same / full over space / full over space and time",
    config_cls=Config,
    presets={
        "paper": {},
        "quick": QUICK,
        # The quick proxy with more seeds, training clips, epochs and validation clips: same's
        # seed-to-seed spread (+-6 points on quick) is what widens the interval (README, "medium").
        "medium": {**QUICK, "seeds": 10, "train_clips": 240, "val_clips": 2000, "train.epochs": 40},
        "ci": {"datasets": ("moving",), "depths": (10,), "width": 2, "frames": 8, "size": 24, "item_size": 10,
               "stem": "torchvision", "train_clips": 24, "val_clips": 12, "train.epochs": 2, "train.batch_size": 12,
               "train.num_workers": 0},
    },
    run=run,
    group_by=("dataset", "depth", "border", "dims"),
    metrics=("train_acc", "val_acc"),
    paper=PAPER,
    check=check_pattern,
    effects=effects,
))
