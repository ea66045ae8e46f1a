"""Red-green figures: example images of the three sets, a bar chart of the table, and the table
next to the paper's four rows."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..datasets.redgreen import RedGreenSpec, red_green  # noqa: E402
from .figures import save_figure  # noqa: E402
from .tables import mean_std, table  # noqa: E402

#: The paper's row labels for our border names.
PAPER_LABELS = {"valid": "valid", "same": "same (zeros)", "same-circular": "same (circular)", "full": "full (zeros)"}
EXAMPLES_PER_CLASS = 3


def examples_figure(results: dict, path: Path) -> Path:
    """Train, similar and dissimilar examples of both classes (rows: sets; columns: class 1, class 2)."""
    cfg = results["config"]
    spec = RedGreenSpec(n_train=cfg["n_train"], n_val=cfg["n_val"], n_test=cfg["n_test"])
    sets = [("train", "train"), ("similar test", "similar"), ("dissimilar test", "dissimilar")]
    fig, axes = plt.subplots(len(sets), 2 * EXAMPLES_PER_CLASS, figsize=(2 * EXAMPLES_PER_CLASS * 1.3, 4.3))
    for row, (label, split) in enumerate(sets):
        x, y = red_green(spec, cfg["data_seed"], split)
        for label_index in (0, 1):
            chosen = (y == label_index).nonzero().flatten()[:EXAMPLES_PER_CLASS]
            for k, index in enumerate(chosen.tolist()):
                ax = axes[row, label_index * EXAMPLES_PER_CLASS + k]
                ax.imshow(x[index].permute(1, 2, 0).numpy(), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if k == 0:
                    ax.set_title(f"class {label_index + 1}", fontsize=8)
        axes[row, 0].set_ylabel(label, fontsize=8)
    fig.suptitle("red-green: training bands, similar (same bands) and dissimilar (bands swapped)", fontsize=9)
    return save_figure(fig, path)


def bar_chart(results: dict, path: Path) -> Path:
    """Similar and dissimilar test accuracy per border (mean ± std), with the paper's values as marks."""
    summary = results["summary"]
    borders = [row["border"] for row in summary]
    positions = np.arange(len(borders))
    fig, ax = plt.subplots(figsize=(1.0 * len(borders) + 2, 3.6))
    for offset, metric, colour in ((-0.2, "similar", "tab:blue"), (0.2, "dissimilar", "tab:orange")):
        means = [row[f"{metric}_acc_mean"] for row in summary]
        stds = [row[f"{metric}_acc_std"] for row in summary]
        ax.bar(positions + offset, means, 0.4, yerr=stds, color=colour, label=f"{metric} (ours)", capsize=2)
        paper = [(i, results["paper"][b][metric][0]) for i, b in enumerate(borders) if b in results["paper"]]
        if paper:
            ax.scatter([i + offset for i, _ in paper], [v for _, v in paper], marker="_", s=300, color="black",
                       label="paper" if metric == "similar" else None, zorder=3)
    ax.set_xticks(positions, borders, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 105))
    ax.legend(fontsize=7, loc="lower left")
    return save_figure(fig, path)


def figures(results: dict, out_dir: Path) -> list[Path]:
    """``red_green_examples.png`` and ``red_green_bars.png`` in ``out_dir``."""
    return [examples_figure(results, out_dir / "red_green_examples.png"),
            bar_chart(results, out_dir / "red_green_bars.png")]


def section(results: dict) -> str:
    """Our similar / dissimilar accuracies next to the paper's four rows."""
    rows = []
    for row in results["summary"]:
        paper = results["paper"].get(row["border"])
        rows.append([row["border"],
                     mean_std(row["similar_acc_mean"], row["similar_acc_std"]),
                     mean_std(row["dissimilar_acc_mean"], row["dissimilar_acc_std"]),
                     PAPER_LABELS.get(row["border"], "–"),
                     mean_std(*paper["similar"]) if paper else "–",
                     mean_std(*paper["dissimilar"]) if paper else "–",
                     row["n"]])
    return table(["border", "similar (ours)", "dissimilar (ours)", "paper row", "similar (paper)",
                  "dissimilar (paper)", "seeds"], rows,
                 caption="Test accuracy (%), mean ± std over seeds; the dissimilar set swaps the bands.")
