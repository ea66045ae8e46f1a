"""Convolution types (Kayhan & van Gemert 2020, Figure 2): which borders keep a response at the border?

A block of ones sits at the upper-left border (class 1) or at the bottom-right border (class 2).
One fixed 3×3 filter detects the block's top-left corner: it responds (after ReLU) only where the
window's bottom-right tap sees the corner and every other tap sees background. For class 1 that
window is centred one pixel outside the image, so ``valid`` and ``same`` lose class 1's response
while ``full`` keeps it; class 2's response survives everywhere. No training: the feature maps are
computed directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..layers import BorderConv2d, BorderName
from ..utils.canvas import place_on_canvas
from . import Experiment, ExperimentConfig, RunContext, register

#: Fires only on a top-left corner of a bright region: bottom-right tap +1, every other tap -1.
CORNER_FILTER = ((-1.0, -1.0, -1.0), (-1.0, -1.0, -1.0), (-1.0, -1.0, 1.0))


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Image and block sizes of the figure; the borders compared."""

    seeds: int = 1
    borders: tuple[BorderName, ...] = ("valid", "same", "full")
    image_size: int = 8
    block: int = 3  # px of the square block at the upper-left or bottom-right border


#: The paper: valid and same lose class 1's response at the border, full keeps it.
PAPER = {"valid": {"class1_kept": False}, "same": {"class1_kept": False}, "full": {"class1_kept": True}}


def block_images(image_size: int, block: int) -> Tensor:
    """The two images: (2, 1, image_size, image_size); a block of ones upper-left, then bottom-right."""
    if not 0 < block < image_size:
        raise ValueError(f"block of {block} px needs an image larger than it, got {image_size} px")
    x = torch.zeros(2, 1, image_size, image_size)
    x[0, 0, :block, :block] = 1.0
    x[1, 0, -block:, -block:] = 1.0
    return x


def feature_maps(border: str, images: Tensor) -> Tensor:
    """ReLU responses of :data:`CORNER_FILTER` under ``border``: (2, 1, H, W) -> (2, H', W')."""
    conv = BorderConv2d(1, 1, 3, bias=False, border=border, background=0.0)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(CORNER_FILTER).view(1, 1, 3, 3))
        return F.relu(conv(images))[:, 0]


def unbounded_peak(block: int) -> float:
    """The filter's strongest response to the block on a canvas with room around it."""
    return float(feature_maps("valid", place_on_canvas(torch.ones(1, 1, block, block), (block + 8,) * 2, (4, 4))).max())


def run(cfg: Config, ctx: RunContext) -> list[dict]:
    images = block_images(cfg.image_size, cfg.block)
    peak = unbounded_peak(cfg.block)
    rows = []
    for border in cfg.borders:
        maps = feature_maps(border, images)
        rows.append({"border": border, "seed": 0,
                     "class1_kept": bool(maps[0].max() >= peak), "class2_kept": bool(maps[1].max() >= peak),
                     "class1_peak": float(maps[0].max()), "class2_peak": float(maps[1].max()),
                     "maps": maps.tolist()})
    return rows


def check_pattern(summary: list[dict]) -> tuple[bool, str]:
    """Class 1's response is lost with valid and same and kept with full."""
    kept = {row["border"]: row["class1_kept_mean"] for row in summary}
    missing = [b for b in PAPER if b not in kept]
    if missing:
        return False, f"borders {', '.join(missing)} were not run"
    matches = all(bool(kept[b]) == PAPER[b]["class1_kept"] for b in PAPER)
    detail = ", ".join(f"{b}: {'kept' if kept[b] else 'lost'}" for b in kept)
    return matches, f"class 1's border response — {detail} (paper: lost, lost, kept)"


EXPERIMENT = register(Experiment(
    name="conv-types",
    report="fullconv.report.conv_types",
    title="Convolution types: what valid, same and full keep at the border",
    summary="a corner detector on a block at the upper-left vs bottom-right border: valid/same lose it, full keeps it",
    config_cls=Config,
    presets={"paper": {}, "quick": {}, "ci": {}},
    run=run,
    group_by=("border",),
    metrics=("class1_kept", "class2_kept"),
    paper=PAPER,
    check=check_pattern,
))
