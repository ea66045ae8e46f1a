"""Data efficiency (Kayhan & van Gemert 2020, §5.3): with few training images per class, full
convolution beats same convolution; with many they are alike.

Every (border, subset size, seed) trains one classifier from the same initial weights (``convert``
keeps them) on a subset of a fixed number of images per class. The subsets of one run are nested
(drawn from one seeded pool; see :mod:`fullconv.datasets.subsets`), the same for every seed and
border, and saved as ``subsets.json`` next to the results. The validation images that pick the
kept epoch come from the same pool, disjoint from every subset; the test images are the source's
own test split.

Sources: ``imagenet`` (the paper: ``--data`` is an ImageNet 2012 folder with ``train/`` and
``val/`` in ImageFolder layout, ResNet-50) and ``fashion-mnist`` (offline, a small ResNet).
"""
from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torchvision
from torch.utils.data import Subset

from ..convert import convert
from ..datasets.fashion_mnist import load_fashion_mnist
from ..datasets.shifted import PlacedItems, placed
from ..datasets.splits import split_generator, split_seed
from ..datasets.augment import RandomCrops
from ..datasets.subsets import ALL, NestedSubsets, nested_subsets
from ..layers import BorderName
from ..models import create, list_models, resolve, with_head
from ..models.heads import check_head
from ..training import InMemory, TrainConfig, evaluate, fit
from ..utils.constants import IMAGENET_MEAN, IMAGENET_STD
from ..utils.io import atomic_write_json
from . import Experiment, ExperimentConfig, RunContext, register, unit_key
from .stats import by_seed, paired_effect

SOURCES = ("imagenet", "fashion-mnist")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults: the paper's ImageNet protocol; ``per_class`` 0 = all. Comments name each value's source.

    Sources: Kayhan & van Gemert's ``full_conv/Exp4_data_efficiency/imagenet_classification``
    (``main.py``, the PyTorch ImageNet example's recipe, and ``resnet_fconv.py``) and the paper's
    data-efficiency figure (subset sizes).
    """

    seeds: int = 1
    source: str = "imagenet"          # ImageNet 2012 (--data)
    arch: str = "resnet50"            # the paper's ResNet-50; a torchvision ResNet name, or small_resnet
    width: int = 16                   # small_resnet only
    stages: int = 3                   # small_resnet only: stages of one BasicBlock each
    stem_stride: int = 1              # small_resnet only: 2 adds a stride-2 stem and max pooling
    borders: tuple[BorderName, ...] = ("same", "full")
    paper_stem_pool: bool = True      # resnet_fconv.py: full ResNets pool 2×2/2 after the stem
    head: str = "gap"                 # torchvision ResNet head, as the paper
    per_class: tuple[int, ...] = (50, 100, 250, 500, ALL)   # the paper's figure: 50..500 per class and all
    subsets: str = ""                 # a JSON or pickle list of training image paths (e.g. the paper's train.pickle): one subset
    val_per_class: int = 10           # validation images per class, drawn outside the training subsets
    subset_seed: int = 0              # one draw of subsets for every seed and border
    n_test: int = 0                   # test images (0: the whole test split)
    zero_allowed = frozenset({"n_test"})  # n_test 0: the whole test split
    image_size: int = 224             # RandomResizedCrop(224); test Resize 256, CenterCrop 224
    canvas: int = 0                   # fashion-mnist only: > 28 puts each item at a seeded random position on a black canvas this wide
    shift_augment: int = 0            # in-memory sources: training images shifted by up to this many px (zero fill)
    train: TrainConfig = TrainConfig(
        epochs=90,                    # main.py --epochs 90
        batch_size=256,               # main.py --batch-size 256
        optimizer="sgd",              # main.py: SGD
        lr=0.1,                       # main.py --lr 0.1
        momentum=0.9,                 # main.py --momentum 0.9
        weight_decay=1e-4,            # main.py --wd 1e-4
        schedule="step",              # main.py adjust_learning_rate: lr ÷ 10 every 30 epochs
        step_size=30,                 # main.py: every 30 epochs
        keep_best="val_acc",          # main.py keeps the checkpoint of the best validation accuracy
        num_workers=8,                # DataLoader worker processes
    )
    min_steps: int = 0                # small subsets are repeated within an epoch to give this many steps


#: The paper's ImageNet top-1 (%) of ResNet-50 ``same`` and how far ``full`` was ahead, per subset.
PAPER = {
    "per_class": [50, 100, 250, 500, ALL],
    "same": [26.39, 43.99, 59.67, 68.82, 75.75],
    "full_minus_same": [4.8, 3.4, 3.2, 1.3, 0.0],
    "statement": "full ahead of same by about 4.8, 3.4, 3.2, 1.3 and 0.0 points at 50, 100, 250, 500 "
                 "images per class and the full set",
}


@dataclass(frozen=True)
class Source:
    """Training pool (a Dataset of (x, y) with ``labels``), its evaluation-transform twin, and the test set."""

    train: torch.utils.data.Dataset
    train_eval: torch.utils.data.Dataset
    labels: torch.Tensor
    test: torch.utils.data.Dataset
    num_classes: int
    in_channels: int


def fashion_mnist_source(cfg: Config) -> Source:
    """Fashion-MNIST, x: (N, 1, 28, 28) in [0, 1], or items placed on ``cfg.canvas``; the test split subsampled to ``n_test``."""
    images, labels = load_fashion_mnist(train=True)
    test_images, test_labels = load_fashion_mnist(train=False)
    if cfg.n_test:
        keep = torch.randperm(len(test_labels), generator=split_generator(cfg.subset_seed, "test"))[:cfg.n_test]
        test_images, test_labels = test_images[keep], test_labels[keep]
    if cfg.canvas:
        train = placed(images, labels, cfg.canvas, cfg.subset_seed, "train")
        test = placed(test_images, test_labels, cfg.canvas, cfg.subset_seed, "test")
        return Source(train, train, labels, InMemory(*test.take(torch.arange(len(test)))), 10, 1)
    train = InMemory(images[:, None].float() / 255, labels)
    return Source(train, train, labels, InMemory(test_images[:, None].float() / 255, test_labels), 10, 1)


def imagenet_source(cfg: Config, root: str | None) -> Source:
    """ImageNet 2012 in ImageFolder layout: ``root/train/<class>/...`` and ``root/val/<class>/...``."""
    if root is None:
        raise FileNotFoundError("source 'imagenet' needs --data with an ImageNet folder holding train/ and val/ in "
                                "ImageFolder layout (or use --preset quick for Fashion-MNIST)")
    from torchvision import transforms

    for split in ("train", "val"):
        if not (Path(root) / split).is_dir():
            raise FileNotFoundError(f"--data {root}: no {split}/ folder; expected ImageNet 2012 in ImageFolder "
                                    f"layout (train/<class>/*.JPEG, val/<class>/*.JPEG)")
    normalise = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train_tf = transforms.Compose([transforms.RandomResizedCrop(cfg.image_size), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), normalise])
    eval_tf = transforms.Compose([transforms.Resize(round(cfg.image_size * 8 / 7)), transforms.CenterCrop(cfg.image_size),
                                  transforms.ToTensor(), normalise])
    folder = torchvision.datasets.ImageFolder
    train = folder(str(Path(root) / "train"), transform=train_tf)
    test = folder(str(Path(root) / "val"), transform=eval_tf)
    if cfg.n_test:
        keep = torch.randperm(len(test), generator=split_generator(cfg.subset_seed, "test"))[:cfg.n_test]
        test = Subset(test, keep.tolist())
    return Source(train, folder(str(Path(root) / "train"), transform=eval_tf), torch.tensor(train.targets),
                  test, len(train.classes), 3)


def load_source(cfg: Config, ctx: RunContext) -> Source:
    if cfg.source == "fashion-mnist":
        return fashion_mnist_source(cfg)
    return imagenet_source(cfg, ctx.data)


def subset(data, indices: torch.Tensor):
    """``data`` restricted to ``indices``: indexed tensors for InMemory, a Subset otherwise."""
    if isinstance(data, InMemory):
        return InMemory(data.x[indices], data.y[indices])
    if isinstance(data, PlacedItems):
        return InMemory(*data.take(indices))
    return Subset(data, indices.tolist())


def build_model(cfg: Config, border: str, source: Source, seed: int) -> nn.Module:
    """The classifier at ``border``, with initial weights that depend on the seed only."""
    torch.manual_seed(split_seed(seed, "init"))
    if resolve(cfg.arch) == "small_resnet":
        model = create("small_resnet", layers=(1,) * cfg.stages, width=cfg.width, in_channels=source.in_channels,
                       num_classes=source.num_classes, stem_stride=cfg.stem_stride, head=cfg.head)
        stem_pool = False
    else:
        model = with_head(create(cfg.arch, num_classes=source.num_classes), cfg.head)
        stem_pool = cfg.paper_stem_pool
    # background 0: black for Fashion-MNIST in [0, 1], the mean colour for normalised ImageNet
    return model if border == "same" else convert(model, border, background=0.0, paper_stem_pool=stem_pool)


def repeats(cfg: Config, n_train: int) -> int:
    """How often a subset of ``n_train`` images is repeated within an epoch to reach ``min_steps`` in all."""
    return max(1, math.ceil(cfg.min_steps * cfg.train.batch_size / (cfg.train.epochs * n_train)))


def check_config(cfg: Config) -> None:
    if cfg.source not in SOURCES:
        raise ValueError(f"unknown source {cfg.source!r}; choose one of: {', '.join(SOURCES)}")
    arch = resolve(cfg.arch)  # an unknown name fails here, listing the close ones
    if arch != "small_resnet" and not (arch.startswith("resnet") and arch in list_models("torchvision")):
        raise ValueError(f"unknown arch {cfg.arch!r}; choose small_resnet or a torchvision ResNet (e.g. resnet50)")
    if "same" not in cfg.borders:
        raise ValueError("borders must include 'same': results are differences to it")
    check_head(cfg.head)
    if cfg.shift_augment and cfg.source != "fashion-mnist":
        raise ValueError("shift_augment is for the in-memory fashion-mnist source; ImageNet trains with "
                         "RandomResizedCrop")
    if cfg.subsets and not Path(cfg.subsets).is_file():
        raise FileNotFoundError(f"subsets={cfg.subsets}: no such file; pass a JSON or pickle list of training "
                                f"image paths")
    if cfg.canvas and (cfg.source != "fashion-mnist" or cfg.canvas < 28):
        raise ValueError(f"canvas={cfg.canvas}: a canvas is for source fashion-mnist and must be at least its "
                         f"28 px; use canvas=0 for the plain images")


def run(cfg: Config, ctx: RunContext) -> list[dict]:
    check_config(cfg)
    source = load_source(cfg, ctx)
    drawn = nested_subsets(source.labels, cfg.per_class, cfg.subset_seed, val_per_class=cfg.val_per_class)
    if cfg.subsets:
        drawn = listed_subset(source, cfg)
    if ctx.distributed.is_main:
        atomic_write_json(ctx.out_dir / "subsets.json", {"source": cfg.source, "seed": cfg.subset_seed, **drawn.to_json()})
    val = subset(source.train_eval, drawn.validation)
    rows = []
    units = [(border, n, seed) for seed in ctx.seeds for n in drawn.subsets for border in cfg.borders]
    for border, n, seed in ctx.progress(units, desc="data-efficiency", total=len(units)):
        def unit(run_dir: Path, border=border, n=n, seed=seed) -> dict:
            indices = drawn.subsets[n]
            train = subset(source.train, indices.repeat(repeats(cfg, len(indices))))
            if cfg.shift_augment:
                train = RandomCrops(train.x, train.y, train.x.shape[2:], padding=cfg.shift_augment)
            result = fit(build_model(cfg, border, source, seed), train, val, cfg.train,
                         run_dir=run_dir, device=ctx.device, seed=seed, progress=ctx.progress, resume=ctx.resume)
            test = evaluate(result.model, source.test, device=ctx.device, batch_size=cfg.train.batch_size,
                            num_workers=cfg.train.num_workers)
            return {"border": border, "per_class": n, "seed": seed, "acc": test["acc"], "n_train": len(indices),
                    "steps": len(result.history) * math.ceil(len(train) / cfg.train.batch_size), "best_epoch": result.best_epoch,
                    "train_loss": result.history[-1]["train_loss"]}
        rows.append(ctx.unit(unit_key(border=border, per_class=n, seed=seed), unit))
    return rows


def read_path_list(path: str | Path) -> list[str]:
    """Image paths from a JSON list or a pickled list/tuple (the paper released its 50-per-class list as a pickle)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        paths = json.loads(path.read_text())
    else:
        with open(path, "rb") as handle:
            paths = pickle.load(handle)  # a file the user names, as torch.load would read it
    if not isinstance(paths, (list, tuple)) or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"subsets={path}: expected a list of image paths (strings)")
    return list(paths)


def listed_subset(source: Source, cfg: Config) -> NestedSubsets:
    """One subset: the training images that ``cfg.subsets`` lists, matched by their last two path parts (class/file).

    Its key is the images per class (rounded); validation images are ``val_per_class`` per class from the rest.
    """
    samples = getattr(source.train, "samples", None)
    if samples is None:
        raise ValueError("subsets=PATH lists image files: it needs source=imagenet (an ImageFolder)")
    where = {Path(p).parts[-2:]: i for i, (p, _) in enumerate(samples)}
    listed = read_path_list(cfg.subsets)
    missing = [p for p in listed if Path(p).parts[-2:] not in where]
    if missing:
        raise ValueError(f"subsets={cfg.subsets}: {len(missing)} listed images are not in the training folder, "
                         f"e.g. {missing[0]}; the list must name train/<class>/<file> images")
    chosen = torch.tensor(sorted({where[Path(p).parts[-2:]] for p in listed}), dtype=torch.long)
    rest = torch.ones(len(samples), dtype=torch.bool)
    rest[chosen] = False
    pool = torch.nonzero(rest).flatten()
    held = nested_subsets(source.labels[pool], (), cfg.subset_seed, val_per_class=cfg.val_per_class)
    per_class = max(1, round(len(chosen) / source.num_classes))
    return NestedSubsets(pool[held.validation], {per_class: chosen})


def differences(summary: list[dict]) -> dict[str, dict[int, float]]:
    """border -> per_class -> mean accuracy minus that of ``same`` (percentage points)."""
    acc = {(row["border"], row["per_class"]): row["acc_mean"] for row in summary}
    out: dict[str, dict[int, float]] = {}
    for (border, n), value in acc.items():
        if border != "same" and ("same", n) in acc:
            out.setdefault(border, {})[n] = value - acc[("same", n)]
    return out


def check_pattern(summary: list[dict]) -> tuple[bool, str]:
    """Reproduced when ``full`` is ahead of ``same`` on the smaller subsets and by more than on the largest.

    "Ahead" is by at least 1 point on average over every subset but the largest (the paper: 3.2
    over 50-500 per class), so that differences within seed noise do not count.
    """
    full = differences(summary).get("full")
    if not full or len(full) < 2:
        return False, "needs same and full on at least two subset sizes"
    sizes = sorted(full, key=lambda n: math.inf if n == ALL else n)
    small = sum(full[n] for n in sizes[:-1]) / len(sizes[:-1])
    largest = full[sizes[-1]]
    steps = ", ".join(f"{full[n]:+.1f} at {'all' if n == ALL else n}" for n in sizes)
    detail = (f"full - same: {steps} per class; {small:+.2f} on average below the largest "
              f"(paper: +4.8 at 50, +3.4 at 100, +3.2 at 250, +1.3 at 500, 0.0 on the full set)")
    return small >= 1.0 and small > largest, detail


def effects(rows: list[dict]) -> list[dict]:
    """Accuracy of every border minus ``same`` per subset size, and (the claim) averaged over the sizes below the largest.

    The paper's claim is ``full`` ahead of ``same`` when training data are few: the judged effect is
    each seed's mean of ``full − same`` over every subset size but the largest (where the paper
    finds them alike), paired by seed. The per-size differences are shown, not judged.
    """
    sizes = sorted({r["per_class"] for r in rows}, key=lambda n: math.inf if n == ALL else n)
    out = []
    for border in dict.fromkeys(r["border"] for r in rows if r["border"] != "same"):
        per_size = {n: paired_effect("acc", f"{border} − same at {'all' if n == ALL else n} per class",
                                     by_seed(rows, "acc", border=border, per_class=n),
                                     by_seed(rows, "acc", border="same", per_class=n), claim=False)
                    for n in sizes}
        small = [n for n in sizes[:-1] if per_size[n] is not None]
        if small:
            seeds = set.intersection(*(set(by_seed(rows, "acc", border=border, per_class=n)) &
                                       set(by_seed(rows, "acc", border="same", per_class=n)) for n in small))
            mean_of = {border: {}, "same": {}}
            for name in mean_of:
                for seed in seeds:
                    mean_of[name][seed] = sum(by_seed(rows, "acc", border=name, per_class=n)[seed]
                                              for n in small) / len(small)
            label = ", ".join("all" if n == ALL else str(n) for n in small)
            out.append(paired_effect("acc", f"{border} − same, mean over {label} per class", mean_of[border],
                                     mean_of["same"], claim=border == "full"))
        out += [e for e in per_size.values() if e is not None]
    return [e for e in out if e is not None]


#: The quick proxy. Items at seeded random positions on a 40-px canvas, each training image
#: shifted by up to 4 px more (zero fill): the network must classify an item wherever it is, the
#: situation where the paper expects full convolution to need fewer images. bnneck keeps full's
#: pooled features at same's scale (fullconv.models.heads).
QUICK = {"seeds": 5, "source": "fashion-mnist", "arch": "small_resnet", "width": 8, "stages": 3, "stem_stride": 2,
         "borders": ("same", "full"), "head": "bnneck", "per_class": (10, 25, 100), "val_per_class": 20,
         "canvas": 40, "shift_augment": 4, "n_test": 2000, "train.epochs": 10, "min_steps": 250,
         "train.batch_size": 64, "train.optimizer": "adam", "train.lr": 3e-3, "train.weight_decay": 0.0,
         "train.schedule": "cosine", "train.num_workers": 0}


EXPERIMENT = register(Experiment(
    name="data-efficiency",
    report="fullconv.report.data_efficiency",
    takes_data=lambda cfg: cfg.source != "fashion-mnist", inputs_hint="--set source=imagenet",
    validate=lambda cfg, ctx: check_config(cfg),
    summary="Accuracy of full vs same convolution trained on 50 ... all images per class",
    title="Data efficiency: training on subsets",
    config_cls=Config,
    presets={
        "paper": {},
        "quick": QUICK,
        # The quick proxy with twice the seeds and test images, and 50 and 250 per class between
        # its subsets: a 95 % interval of the main effect well inside +-1 point (README, "medium").
        "medium": {**QUICK, "seeds": 10, "per_class": (10, 25, 50, 100, 250), "n_test": 4000},
        "ci": {
            "seeds": 1, "source": "fashion-mnist", "arch": "small_resnet", "width": 8, "stages": 2, "stem_stride": 2,
            "borders": ("same", "full"), "per_class": (5, 50), "val_per_class": 10, "n_test": 300,
            "train.epochs": 2, "min_steps": 24, "train.batch_size": 32, "train.optimizer": "adam", "train.lr": 3e-3,
            "train.weight_decay": 0.0, "train.schedule": "cosine", "train.num_workers": 0,
        },
    },
    run=run,
    group_by=("border", "per_class"),
    metrics=("acc",),
    paper=PAPER,
    check=check_pattern,
    effects=effects,
))
