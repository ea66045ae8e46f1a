"""Convolution-types figure: both images and their feature maps under each border, in one grid."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..experiments.conv_types import block_images  # noqa: E402
from .figures import save_figure  # noqa: E402


def figures(results: dict, out_dir: Path) -> list[Path]:
    """``conv_types.png``: rows are the classes; columns the input, then one map per border."""
    cfg = results["config"]
    images = block_images(cfg["image_size"], cfg["block"])[:, 0].numpy()
    rows = results["rows"]
    top = max(max(np.max(row["maps"][0]), np.max(row["maps"][1])) for row in rows) or 1.0
    fig, axes = plt.subplots(2, 1 + len(rows), figsize=(2.0 * (1 + len(rows)), 4.4))
    for k, name in enumerate(("class 1 (upper-left)", "class 2 (bottom-right)")):
        axes[k, 0].imshow(images[k], cmap="gray", vmin=0, vmax=1)
        axes[k, 0].set_title(f"{name}\ninput {images[k].shape[0]}×{images[k].shape[1]}", fontsize=8)
        for column, row in enumerate(rows, start=1):
            feature_map = np.array(row["maps"][k])
            axes[k, column].imshow(feature_map, cmap="magma", vmin=0, vmax=top)
            status = "kept" if row[f"class{k + 1}_kept"] else "lost"
            axes[k, column].set_title(f"{row['border']} {feature_map.shape[0]}×{feature_map.shape[1]}: {status}",
                                      fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("top-left-corner filter: does the response at the border survive?", fontsize=9)
    return [save_figure(fig, out_dir / "conv_types.png")]
