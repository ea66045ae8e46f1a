"""Rook figures: an animated GIF of training (filter, feature maps of both classes, accuracy so far)
for ``same`` and ``full`` side by side, and a PNG of its last frame."""
from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from ..datasets.rook import rook_images  # noqa: E402
from ..experiments.context import unit_key  # noqa: E402
from ..experiments.rook import TRACE  # noqa: E402
from ..models.tiny import rook_net  # noqa: E402
from .figures import save_figure  # noqa: E402

SIDE_BY_SIDE = ("same", "full")
MAX_FRAMES = 50


def training_trace(units_dir: Path, border: str, member: int = 0) -> list[dict]:
    """Per epoch of ``border``'s run: epoch, filter (5×5 list) and training accuracy of one member."""
    path = units_dir / unit_key(border=border) / TRACE
    if not path.exists():
        raise FileNotFoundError(f"no training trace {path}; run the rook experiment again with --redo "
                                f"(fullconv run rook --redo)")
    return [{"epoch": record["epoch"], "filter": record["filter"][member], "acc": record["acc"][member]}
            for record in json.loads(path.read_text())]


def feature_maps(border: str, weights: list, image_size: int, patch_size: int) -> np.ndarray:
    """ReLU maps of the two rook images under one filter: (2, H', W')."""
    net = rook_net(border)
    with torch.no_grad():
        net.convs[0].weight.copy_(torch.tensor(weights).view_as(net.convs[0].weight))
        x, _ = rook_images(image_size, patch_size)
        return net.feature_maps(x)[:, 0].numpy()


def _frames(results: dict, out_dir: Path) -> tuple[list[Image.Image], plt.Figure]:
    cfg = results["config"]
    traces = {b: training_trace(out_dir / results.get("units", "units"), b) for b in SIDE_BY_SIDE}
    epochs = min(len(t) for t in traces.values())
    steps = sorted(set(np.linspace(0, epochs - 1, min(epochs, MAX_FRAMES)).round().astype(int).tolist()))
    fig, axes = plt.subplots(4, 2, figsize=(5.2, 8.4), gridspec_kw={"height_ratios": [1, 1.2, 1.2, 0.9]})
    artists = {}
    for column, border in enumerate(SIDE_BY_SIDE):
        first = traces[border][0]
        maps = feature_maps(border, first["filter"], cfg["image_size"], cfg["patch_size"])
        artists[border] = (
            axes[0, column].imshow(np.array(first["filter"]), cmap="coolwarm"),
            axes[1, column].imshow(maps[0], cmap="magma"),
            axes[2, column].imshow(maps[1], cmap="magma"),
            axes[3, column].plot([], [], color="tab:blue")[0],
        )
        axes[0, column].set_title(f"{border}: filter", fontsize=9)
        axes[1, column].set_title("class 1 (upper-left) map", fontsize=9)
        axes[2, column].set_title("class 2 (bottom-right) map", fontsize=9)
        axes[3, column].set(xlim=(1, epochs), ylim=(0, 105), xlabel="epoch", ylabel="train acc (%)")
        for ax in axes[:3, column]:
            ax.set_xticks([])
            ax.set_yticks([])
    frames = []
    for step in steps:
        for border, (filt, map0, map1, curve) in artists.items():
            trace = traces[border]
            weights = np.array(trace[step]["filter"])
            maps = feature_maps(border, trace[step]["filter"], cfg["image_size"], cfg["patch_size"])
            limit = float(np.abs(weights).max()) or 1.0
            filt.set_data(weights)
            filt.set_clim(-limit, limit)
            top = float(maps.max()) or 1.0
            for artist, feature_map in ((map0, maps[0]), (map1, maps[1])):
                artist.set_data(feature_map)
                artist.set_clim(0, top)
            curve.set_data([t["epoch"] for t in trace[:step + 1]], [t["acc"] for t in trace[:step + 1]])
            curve.axes.set_title(f"epoch {trace[step]['epoch']}: {trace[step]['acc']:.0f} %")
        fig.tight_layout()
        fig.canvas.draw()
        frames.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()))
    return frames, fig


def figures(results: dict, out_dir: Path) -> list[Path]:
    """``rook_training.gif`` and ``rook_last_frame.png`` in ``out_dir``."""
    frames, fig = _frames(results, out_dir)
    gif = out_dir / "rook_training.gif"
    tmp_gif = gif.with_name(f".{gif.stem}.{os.getpid()}.gif")
    frames[0].save(tmp_gif, save_all=True, append_images=frames[1:], duration=120, loop=0)
    tmp_gif.replace(gif)
    return [gif, save_figure(fig, out_dir / "rook_last_frame.png", dpi=100)]
