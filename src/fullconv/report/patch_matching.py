"""Figure of the patch-matching experiment: FPR95 against training triplets per border, next to the
paper's numbers for ``same``."""
from __future__ import annotations

from pathlib import Path

from .figures import save_figure
from .tables import table

BORDER_STYLES = {"same": ("C0", "-"), "full": ("C1", "--"), "full-exact": ("C2", ":")}


def curves(results: dict) -> dict[tuple[str, str], list[tuple[int, float, float]]]:
    """(border, test set) -> [(triplets, mean FPR95, std)] sorted by triplets."""
    out: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for row in results.get("summary", []):
        out.setdefault((row["border"], row["test"]), []).append(
            (int(row["triplets"]), float(row["fpr95_mean"]), float(row.get("fpr95_std") or 0.0)))
    return {key: sorted(points) for key, points in out.items()}


def figures(results: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    tests = sorted({test for _, test in curves(results)})
    for (border, test), points in sorted(curves(results).items()):
        triplets, means, stds = zip(*points)
        colour, style = BORDER_STYLES.get(border, ("C3", "-."))
        axes[0].errorbar(triplets, means, yerr=stds, marker="o", capsize=3, color=colour, linestyle=style,
                         label=border if len(tests) == 1 else f"{border}, {test}")
    axes[0].set_title(f"ours ({(results.get('config') or {}).get('source')}, {results.get('preset')} preset)",
                      fontsize=9)
    paper = results.get("paper") or {}
    if paper:
        axes[1].plot(paper["triplets"], paper["same"], marker="o", color="C0", label="same")
        axes[1].plot(paper["triplets"][:1], [paper["same"][0] - paper["full_lower_by_at_most"]], marker="s",
                     color="C1", linestyle="none", label="full at the largest gap (0.063 lower)")
        axes[1].set_title("paper (PhotoTour, HardNet)", fontsize=9)
    for ax, counts in zip(axes, (sorted({t for points in curves(results).values() for t, _, _ in points}),
                                 paper.get("triplets", []))):
        ax.set_xscale("log")
        ax.set_xticks(counts, [f"{t // 1000}k" if t >= 1000 and t % 1000 == 0 else str(t) for t in counts])
        ax.minorticks_off()
        ax.set_xlabel("training triplets")
        ax.set_ylabel("FPR95 (lower is better)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    fig.tight_layout()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return [save_figure(fig, Path(out_dir) / "patch_matching.png", dpi=120)]


def section(results: dict) -> str:
    """Our FPR95 per border and triplet count beside the paper's ``same`` value at that count."""
    paper = results.get("paper") or {}
    paper_same = dict(zip(paper.get("triplets", []), paper.get("same", [])))
    rows = [(border, test, t, mean, std, paper_same.get(t) if border == "same" else None)
            for (border, test), points in sorted(curves(results).items()) for t, mean, std in points]
    return ("<p>HardNet descriptors (128-D; with full borders the 8×8 layer's responses are averaged, so every "
            "border gives the same kind of descriptor). FPR95 is the false positive rate at 95 % recall.</p>"
            + table(["border", "test", "triplets", "FPR95", "std", "paper (same)"], rows))
