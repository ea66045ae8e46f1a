"""``probe()``: how much a CNN exploits absolute position, and what a border variant would change.

Three measurements, each for the model and for its conversion by :func:`fullconv.convert`:

1. border reach per spatial layer (:mod:`fullconv.probe.reach`, analytic);
2. shift sensitivity: the relative change ``‖f(x_d) - f(x_ref)‖ / ‖f(x_ref)‖`` of the logits (the
   pooled features when the model has no classifier) when an item moves on a black canvas
   diagonally from the middle (``x_ref``) to distance ``d`` from the top-left border;
3. location decodability: the quadrant test (Kayhan & van Gemert 2020, §4.2) on frozen features.
   Each item is placed at the top-left and at the bottom-right of a black canvas (one class each),
   framed by ``frame`` black pixels; a ridge classifier (:mod:`fullconv.probe.linear`) is fitted on
   the pooled features of the training items and scored on disjoint test items; location is
   decodable when the lower end of the 95 % Wilson interval of the test accuracy exceeds 1/2.

The two placements lie ``offset`` pixels apart, a multiple of the model's total stride, so a
``full-exact`` model gives both the same features up to floating-point rounding. Feature pairs
closer than ``tolerance`` (relative) count as one point, which the classifier must give one label:
such a model scores exactly chance (one of the two placements right per item).

Frozen features and shift outputs are cached per unit in ``out/cache/`` under a key of the model's
weights, the settings and the unit, so a second run with the same settings computes nothing.
"""
from __future__ import annotations

import copy
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ..convert import ConversionError, convert
from ..datasets.images import load_images
from ..datasets.quadrant import QuadrantCanvas
from ..layers.borders import get_border
from ..utils.canvas import place_on_canvas
from ..utils.constants import IMAGENET_MEAN, IMAGENET_STD
from ..utils.io import atomic_save
from .linear import ridge_classifier, wilson_interval
from .reach import border_reach

VARIANTS = ("original", "converted")
#: input side used to read the model's total stride (large enough that no map shrinks to 1×1 early)
STRIDE_PROBE_SIZE = 128


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of a probe; the defaults keep ResNet-50 within minutes on a 2-core CPU.

    Attributes:
        item: side of an item in pixels (Fashion-MNIST's own 28).
        train_items, test_items: distinct items for the linear probe's training and test sets
            (each item appears in both placements).
        frames: widths of the black frame around the quadrant canvas, in pixels.
        shift_items: items moved over the shift canvas.
        batch_size: images per forward pass.
        seed: chooses the items.
        tolerance: relative difference below which two feature vectors (or outputs) count as equal:
            the rounding of float32 through a deep network.
    """

    item: int = 28
    train_items: int = 32
    test_items: int = 32
    frames: tuple[int, ...] = (0, 16, 32, 64, 128)
    shift_items: int = 8
    batch_size: int = 16
    seed: int = 0
    tolerance: float = 1e-5

    def __post_init__(self) -> None:
        if self.item < 2 or self.train_items < 2 or self.test_items < 1 or self.shift_items < 1:
            raise ValueError(f"probe needs item >= 2, train_items >= 2, test_items >= 1 and shift_items >= 1; "
                             f"got {self.item}, {self.train_items}, {self.test_items}, {self.shift_items}")
        if not self.frames or min(self.frames) < 0 or list(self.frames) != sorted(set(self.frames)):
            raise ValueError(f"frames must be distinct, increasing and >= 0 pixels; got {self.frames}")


@dataclass(frozen=True)
class Geometry:
    """Canvas sizes derived from the item size and the model's total stride."""

    item: int
    total_stride: int

    @property
    def offset(self) -> int:
        """Distance between the two quadrant placements: the first stride multiple >= item."""
        return self.total_stride * -(-self.item // self.total_stride)

    @property
    def quadrant_canvas(self) -> int:
        return self.item + self.offset

    @property
    def travel(self) -> int:
        """Largest distance of the moving item from the border (its reference position)."""
        return max(2 * self.total_stride, 8)

    @property
    def shift_step(self) -> int:
        return max(1, self.total_stride // 4)

    @property
    def shift_canvas(self) -> int:
        return self.item + 2 * self.travel

    @property
    def distances(self) -> list[int]:
        return list(range(0, self.travel + 1, self.shift_step))


@dataclass
class ProbeResult:
    """What :func:`probe` measured; ``as_dict()`` is the content of probe.json."""

    name: str
    border: str
    config: dict[str, Any]
    geometry: dict[str, Any]
    reach: dict[str, dict[str, Any]]
    shift: dict[str, dict[str, Any]]
    decodability: dict[str, dict[str, Any]]
    verdict: str
    notes: list[str] = field(default_factory=list)
    computed_units: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, out: Path | str) -> list[Path]:
        """Write probe.json, the figures and probe.html into ``out``; returns the files written."""
        from .card import write_card

        return write_card(self, Path(out))


def probe(model: nn.Module, data: str | Tensor = "fashion-mnist", *, border: str = "full-exact",
          name: str | None = None, out: Path | str | None = None, config: ProbeConfig = ProbeConfig(),
          mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
          device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
          progress: bool | None = None) -> ProbeResult:
    """Measure border reach, shift sensitivity and location decodability of ``model`` and of its conversion.

    Args:
        model: a CNN taking (B, C, H, W) images; it is not changed (the probe works on a copy).
        data: ``fashion-mnist``, ``folder:PATH`` (a user's images, resized to ``config.item``) or
            a tensor of items (N, C, h, w) in [0, 1] with ``N >= train + test + shift items``.
        border: the variant to convert to (``fullconv.BORDERS``).
        name: how the card names the model (default: its class name).
        out: folder for the cache (``out/cache``); ``None`` caches nothing. The card is written by
            :meth:`ProbeResult.save`.
        config: sizes and counts (:class:`ProbeConfig`).
        mean, std: per-channel input normalisation; default ImageNet's for 3-channel models and
            (0,), (1,) for 1-channel ones. A black pixel normalises to ``-mean / std``, which is
            the background that ``full-exact`` pads with.
        device, dtype: where and in which precision the model runs.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        :class:`ProbeResult`.

    Raises:
        ValueError: bad data, border or settings.
        ConversionError: ``convert()`` cannot handle the model (the message names the operation).
    """
    border = get_border(border).name
    name = name or type(model).__name__.lower()
    in_channels = _in_channels(model)
    mean, std = _normalisation(in_channels, mean, std)
    items = _items(data, config, in_channels)
    device = torch.device(device)
    background = [-m / s for m, s in zip(mean, std)]

    net = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
    try:
        converted = convert(net, border, background=background)
    except ConversionError as error:
        raise ConversionError(f"{name} cannot be converted to {border}: {error}") from None
    cache = _Cache(Path(out) / "cache" if out is not None else None, _fingerprint(net, dtype, items), config,
                   mean, std)

    bar = _Progress(progress)
    stride = cache.get(("stride",), lambda: {"stride": border_reach(net, (STRIDE_PROBE_SIZE,) * 2, in_channels)
                                             ["total_stride"]}, bar)["stride"]
    geometry = Geometry(config.item, stride)
    train = items[:config.train_items]
    test = items[config.train_items:config.train_items + config.test_items]
    moving = items[config.train_items + config.test_items:][:config.shift_items]
    norm = (torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1))

    notes = []
    if _needs_calibration(net):
        inputs = _calibration_inputs(train, moving, geometry, mean, std, norm)
        stats = cache.get(("batchnorm",), lambda: _calibrate(net, inputs, config.batch_size, device, dtype), bar)
        _load_batchnorm(net, stats)
        _load_batchnorm(converted, stats)  # convert() keeps the module names
        notes.append("BatchNorm statistics were at their initial values; calibrated on the probe's canvases "
                     "(frame-0 quadrant training canvases and the shift reference canvases)")
    nets = {"original": net, "converted": converted}
    head = _head_name(net)

    reach, shift, decodability = {}, {}, {}
    size = (geometry.shift_canvas,) * 2
    for variant in VARIANTS:
        reach[variant] = cache.get((variant, "reach", border), lambda: _reach(nets[variant], size, in_channels, name,
                                                                             border, variant), bar)
    for variant in VARIANTS:
        outputs = cache.get((variant, "shift", border), lambda: _shift_outputs(
            nets[variant], head, moving, geometry, norm, config.batch_size, device, dtype), bar)
        shift[variant] = _shift_summary(outputs, geometry, config.tolerance)
    for variant in VARIANTS:
        rows = []
        for frame in config.frames:
            features = {split: cache.get((variant, "quadrant", border, frame, split), lambda: _quadrant_features(
                nets[variant], head, images, geometry, frame, mean, std, config.batch_size, device, dtype), bar)
                for split, images in (("train", train), ("test", test))}
            rows.append(_decode(features, frame, config.tolerance))
        decodability[variant] = _decodability_summary(rows)
    bar.close()
    verdict = _verdict(name, border, config.frames, decodability)
    for variant in VARIANTS:
        if reach[variant]["unknown_ops"]:
            notes.append(f"border reach of the {variant} model treats {', '.join(reach[variant]['unknown_ops'])} "
                         f"as reaching the padding wherever its input does (geometry unknown)")
    return ProbeResult(
        name=name, border=border, config=asdict(config) | {"mean": list(mean), "std": list(std),
                                                          "dtype": str(dtype).replace("torch.", "")},
        geometry={"total_stride": stride, "offset": geometry.offset, "quadrant_canvas": geometry.quadrant_canvas,
                  "shift_canvas": geometry.shift_canvas, "distances": geometry.distances,
                  "reach_input_size": list(size)},
        reach=reach, shift=shift, decodability=decodability, verdict=verdict, notes=notes,
        computed_units=cache.computed)


# --------------------------------------------------------------------------- inputs

def _in_channels(model: nn.Module) -> int:
    first = next((m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))), None)
    if first is None:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d layer; the probe needs a convolutional network")
    if not isinstance(first, nn.Conv2d):
        raise ValueError(f"the probe takes 2-D image models; {type(model).__name__} starts with {type(first).__name__}")
    return first.in_channels


def _normalisation(channels: int, mean, std) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if mean is None and std is None:
        return (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.0,) * channels, (1.0,) * channels)
    mean = tuple(float(m) for m in (mean or (0.0,) * channels))
    std = tuple(float(s) for s in (std or (1.0,) * channels))
    if len(mean) != channels or len(std) != channels or min(std) <= 0:
        raise ValueError(f"mean and std need {channels} values (std > 0) for a {channels}-channel model; "
                         f"got mean={mean}, std={std}")
    return mean, std


def _items(data: str | Tensor, config: ProbeConfig, channels: int) -> Tensor:
    needed = config.train_items + config.test_items + config.shift_items
    if isinstance(data, Tensor):
        items = data.float()
        if items.dim() != 4 or items.shape[-1] != items.shape[-2] or len(items) < needed:
            raise ValueError(f"data as a tensor must be (N >= {needed}, C, h, h) items in [0, 1]; "
                             f"got shape {tuple(data.shape)}")
        if items.shape[-1] != config.item:
            items = torch.nn.functional.interpolate(items, size=(config.item,) * 2, mode="bilinear",
                                                    antialias=True, align_corners=False).clamp(0, 1)
    else:
        items = load_images(data, needed, config.item, config.seed).images
    if items.shape[1] == channels:
        return items[:needed]
    if items.shape[1] in (1, 3) and channels in (1, 3):
        return (items.mean(1, keepdim=True) if channels == 1 else items.expand(-1, 3, -1, -1))[:needed]
    raise ValueError(f"items have {items.shape[1]} channels but the model takes {channels}")


def _calibration_inputs(train: Tensor, moving: Tensor, geometry: Geometry, mean, std, norm) -> Tensor:
    canvas = QuadrantCanvas(train, geometry.quadrant_canvas, 0, "black", mean, std)
    quadrant = torch.stack([canvas[i][0] for i in range(len(canvas))])
    middle = (geometry.travel,) * 2
    shifted = (place_on_canvas(moving, (geometry.shift_canvas,) * 2, middle) - norm[0]) / norm[1]
    return [quadrant, shifted]


# --------------------------------------------------------------------------- model

def _fingerprint(model: nn.Module, dtype: torch.dtype, items: Tensor) -> str:
    """Digest of the model's class, structure and state, the precision and the probe's items."""
    digest = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}|{model}|{dtype}".encode())
    digest.update(items.contiguous().numpy().tobytes())
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                      if value.numel() else b"")
    return digest.hexdigest()


def _head_name(model: nn.Module) -> str | None:
    """Qualified name of the last nn.Linear (the classifier, whose input are the pooled features)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


def _needs_calibration(model: nn.Module) -> bool:
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    return bool(norms) and all(int(m.num_batches_tracked) == 0 and bool((m.running_mean == 0).all())
                               and bool((m.running_var == 1).all()) for m in norms)


@torch.no_grad()
def _calibrate(model: nn.Module, batches: list[Tensor], batch_size: int, device, dtype) -> dict[str, Tensor]:
    norms = {n: m for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    momenta = {n: m.momentum for n, m in norms.items()}
    for m in norms.values():
        m.reset_running_stats()
        m.momentum = None  # cumulative average over every calibration batch
        m.train()
    try:
        for inputs in batches:
            for chunk in inputs.split(batch_size):
                model(chunk.to(device=device, dtype=dtype))
    finally:
        for n, m in norms.items():
            m.momentum = momenta[n]
        model.eval()
    return {f"{n}.{b}": getattr(m, b).detach().cpu().clone() for n, m in norms.items()
            for b in ("running_mean", "running_var", "num_batches_tracked")}


def _load_batchnorm(model: nn.Module, stats: dict[str, Tensor]) -> None:
    buffers = dict(model.named_buffers())
    for key, value in stats.items():
        buffers[key].copy_(value)


def _reach(model: nn.Module, size, channels: int, name: str, border: str, variant: str) -> dict[str, Any]:
    try:
        result = border_reach(model, size, channels)
    except ConversionError:
        raise
    except Exception as error:  # the converted model fails on this input: name the failure in one line
        what = f"the {border} conversion of {name}" if variant == "converted" else name
        raise ConversionError(f"{what} fails on a {size[0]}×{size[1]} input: "
                              f"{(str(error).splitlines() or [type(error).__name__])[0]}") from None
    return {"layers": [layer.as_dict() for layer in result["layers"]], "total_stride": result["total_stride"],
            "unknown_ops": result["unknown_ops"]}


@torch.no_grad()
def _forward(model: nn.Module, head: str | None, inputs: Tensor, batch_size: int, device, dtype
             ) -> tuple[Tensor, Tensor | None]:
    """Pooled features (N, D) and outputs (N, K) (None without a classifier) of ``inputs`` (N, C, H, W)."""
    features, outputs = [], []
    captured: list[Tensor] = []
    hook = model.get_submodule(head).register_forward_pre_hook(
        lambda module, args: captured.append(args[0].flatten(1))) if head else None
    try:
        for chunk in inputs.split(batch_size):
            y = model(chunk.to(device=device, dtype=dtype))
            if head:
                features.append(captured.pop().cpu())
                outputs.append(y.flatten(1).cpu())
            else:
                features.append((y.flatten(2).mean(-1) if y.dim() > 2 else y).cpu())
    finally:
        if hook is not None:
            hook.remove()
    return torch.cat(features), (torch.cat(outputs) if outputs else None)


def _quadrant_features(model, head, images: Tensor, geometry: Geometry, frame: int, mean, std, batch_size,
                       device, dtype) -> dict[str, Tensor]:
    canvas = QuadrantCanvas(images, geometry.quadrant_canvas, frame, "black", mean, std)
    inputs = torch.stack([canvas[i][0] for i in range(len(canvas))])
    features, _ = _forward(model, head, inputs, batch_size, device, dtype)
    return {"features": features, "labels": torch.arange(len(canvas)) // len(images)}


def _shift_outputs(model, head, moving: Tensor, geometry: Geometry, norm, batch_size, device, dtype
                   ) -> dict[str, Tensor]:
    side = (geometry.shift_canvas,) * 2
    positions = geometry.distances
    inputs = torch.cat([(place_on_canvas(moving, side, (d, d)) - norm[0]) / norm[1] for d in positions])
    features, outputs = _forward(model, head, inputs, batch_size, device, dtype)
    values = outputs if outputs is not None else features
    return {"values": values.view(len(positions), len(moving), -1), "what": "logits" if outputs is not None
            else "pooled features"}


# --------------------------------------------------------------------------- summaries

def relative_change(values: Tensor) -> Tensor:
    """values: (P, N, K), the last position the reference -> (P, N) ``‖v_p - v_ref‖ / ‖v_ref‖``."""
    reference = values[-1:]
    scale = reference.double().norm(dim=-1).clamp(min=1e-30)
    return (values.double() - reference.double()).norm(dim=-1) / scale


def _shift_summary(outputs: dict[str, Any], geometry: Geometry, tolerance: float) -> dict[str, Any]:
    change = relative_change(outputs["values"])
    curve = change.mean(1).tolist()
    distances = geometry.distances
    multiple = [(geometry.travel - d) % geometry.total_stride == 0 for d in distances]
    at = [change[i] for i, m in enumerate(multiple) if m and distances[i] != geometry.travel]
    between = [change[i] for i, m in enumerate(multiple) if not m]
    stride_max = max((c.max().item() for c in at), default=0.0)
    return {
        "of": outputs["what"], "distances": distances, "mean_change": curve,
        "max_change": change.max(1).values.tolist(), "stride_multiple": multiple,
        "stride_multiple_mean": float(torch.stack(at).mean()) if at else None,
        "stride_multiple_max": stride_max if at else None,
        "between_mean": float(torch.stack(between).mean()) if between else None,
        "between_max": max(c.max().item() for c in between) if between else None,
        "zero_at_stride_multiples": bool(at) and stride_max <= tolerance,
    }


def _merge_identical_pairs(features: Tensor, tolerance: float) -> tuple[Tensor, int]:
    """features (2N, D): rows i and N + i are one item in the two placements; merge pairs closer than tolerance."""
    n = len(features) // 2
    first, second = features[:n].double(), features[n:].double()
    scale = first.norm(dim=1).clamp(min=1e-30)
    same = (first - second).norm(dim=1) / scale <= tolerance
    merged = features.clone()
    merged[n:][same] = features[:n][same]
    return merged, int(same.sum())


def _pair_difference(features: Tensor) -> float:
    n = len(features) // 2
    first, second = features[:n].double(), features[n:].double()
    return float(((first - second).norm(dim=1) / first.norm(dim=1).clamp(min=1e-30)).max())


def _decode(features: dict[str, dict[str, Tensor]], frame: int, tolerance: float) -> dict[str, Any]:
    train_x, merged_train = _merge_identical_pairs(features["train"]["features"], tolerance)
    test_x, merged_test = _merge_identical_pairs(features["test"]["features"], tolerance)
    predict = ridge_classifier(train_x, features["train"]["labels"])
    labels = features["test"]["labels"]
    correct = int((predict(test_x) == labels).sum())
    low, high = wilson_interval(correct, len(labels))
    return {"frame": frame, "accuracy": correct / len(labels), "correct": correct, "n": len(labels),
            "ci_low": low, "ci_high": high, "decodable": low > 0.5,
            "max_pair_difference": _pair_difference(features["test"]["features"]),
            "identical_pairs": merged_train + merged_test}


def _decodability_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    decodable = [r["frame"] for r in rows if r["decodable"]]
    return {"frames": rows, "largest_decodable_frame": max(decodable) if decodable else None,
            "chance_everywhere": all(r["correct"] * 2 == r["n"] for r in rows),
            "interval": "Wilson score, 95 %, over test images (two per test item)"}


def _verdict(name: str, border: str, frames: Sequence[int], decodability: dict[str, dict[str, Any]]) -> str:
    def reach_text(summary: dict[str, Any]) -> str | None:
        largest = summary["largest_decodable_frame"]
        if largest is None:
            return None
        if largest == max(frames):
            return f"at least {largest} px from the border (the largest frame tested)"
        return f"up to {largest} px from the border"

    original, converted = reach_text(decodability["original"]), reach_text(decodability["converted"])
    head = (f"{name} locates content {original}" if original else
            f"{name} does not locate content at any tested distance from the border (0–{max(frames)} px)")
    return f"{head}; {border}: {converted or 'never'}"


# --------------------------------------------------------------------------- cache and progress

class _Cache:
    """Results of units on disk, keyed by the model's fingerprint, the settings and the unit."""

    def __init__(self, root: Path | None, fingerprint: str, config: ProbeConfig, mean, std) -> None:
        self.root, self.computed = root, 0
        self.base = {"model": fingerprint, "config": asdict(config), "mean": list(mean), "std": list(std),
                     "version": 1}

    def get(self, unit: tuple, compute: Callable[[], Any], bar: "_Progress") -> Any:
        key = hashlib.sha256(json.dumps(self.base | {"unit": list(unit)}, sort_keys=True).encode()).hexdigest()[:32]
        path = self.root / f"{key}.pt" if self.root is not None else None
        if path is not None and path.exists():
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # a damaged cache file is recomputed, never trusted
                pass
        bar.describe(" ".join(str(u) for u in unit))
        value = compute()
        self.computed += 1
        bar.step()
        if path is not None:
            atomic_save(path, value)
        return value


class _Progress:
    """A tqdm bar over the computed units, quiet when stderr is not a terminal."""

    def __init__(self, enabled: bool | None) -> None:
        from tqdm.auto import tqdm

        enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = tqdm(desc="probe", unit="unit", disable=not enabled, file=sys.stderr)

    def describe(self, text: str) -> None:
        self.bar.set_postfix_str(text, refresh=True)

    def step(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()

