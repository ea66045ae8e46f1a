"""Figures of the quadrant experiment: test accuracy against the frame size, one figure per architecture."""
from __future__ import annotations

from pathlib import Path

from .figures import save_figure

INIT_LABELS = {"scratch": "scratch", "random": "random (frozen)"}
PAPER_CANVAS = 120
BORDER_STYLES = {"same": "-", "valid": "-", "full": "--", "full-exact": ":"}


def init_label(init: str, pretrained_on: str | None) -> str:
    """Legend text of an initialisation; a Fashion-MNIST backbone is never called ImageNet."""
    if init == "pretrained":
        return "pretrained (Fashion-MNIST)" if pretrained_on == "fashion-mnist" else "pretrained (ImageNet)"
    return INIT_LABELS.get(init, init)


def curves(results: dict) -> dict[str, dict[tuple[str, str, str | None], list[tuple[int, float, float]]]]:
    """arch -> (init, border, pretrained_on) -> [(frame, mean, std)] sorted by frame, from the summary rows."""
    pretrained_on = {(row["arch"], row["init"], row["border"]): row.get("pretrained_on")
                     for row in results.get("rows", [])}
    out: dict = {}
    for row in results.get("summary", []):
        key = (row["init"], row["border"], pretrained_on.get((row["arch"], row["init"], row["border"])))
        out.setdefault(row["arch"], {}).setdefault(key, []).append(
            (int(row["frame"]), float(row["test_acc_mean"]), float(row.get("test_acc_std") or 0.0)))
    for lines in out.values():
        for points in lines.values():
            points.sort()
    return out


def figures(results: dict, out_dir: Path) -> list[Path]:
    """One PNG per architecture: our lines (init × border) and the paper's points for that architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paper = (results.get("paper") or {}).get("points", {})
    # The paper's frames belong to a 120-px canvas; a scaled-down canvas compares at the same ratio.
    scale = float((results.get("config") or {}).get("canvas") or PAPER_CANVAS) / PAPER_CANVAS
    paths = []
    for arch, lines in curves(results).items():
        fig, ax = plt.subplots(figsize=(5.5, 4))
        colours = {}
        all_frames = set()
        for (init, border, pretrained_on), points in sorted(lines.items()):
            colour = colours.setdefault(init, f"C{len(colours)}")
            frames, means, stds = zip(*points)
            all_frames.update(frames)
            ax.errorbar(frames, means, yerr=stds, color=colour, linestyle=BORDER_STYLES.get(border, "-."),
                        marker="o", capsize=3, label=f"{init_label(init, pretrained_on)}, {border}")
        published = paper.get(arch) or paper.get(arch.split("-w")[0], {})
        for init, values in sorted(published.items()):
            frames = sorted(int(frame) for frame in values)
            ax.plot([frame * scale for frame in frames], [values.get(frame, values.get(str(frame))) for frame in frames],
                    color=colours.get(init, "grey"), linestyle="none", marker="x", markersize=8,
                    label=f"paper: {'pretrained (ImageNet)' if init == 'pretrained' else init}"
                          + (f" (frame × {scale:g})" if scale != 1 else ""))
        ax.set_xscale("symlog", linthresh=16)
        ax.set_xticks(sorted(all_frames))
        ax.set_xticklabels([str(frame) for frame in sorted(all_frames)])
        ax.set_xlabel("frame added on each side (pixels)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(40, 102)
        ax.axhline(50, color="grey", linewidth=0.8)
        ax.set_title(f"Quadrant location: {arch}")
        ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        paths.append(save_figure(fig, Path(out_dir) / f"quadrant_{arch}.png", dpi=120))
    return paths


def section(results: dict) -> str:
    """HTML note on what the lines are and how the frame was added."""
    config = results.get("config", {})
    return (f"<p>Items of {config.get('item')} px on a black {config.get('canvas')} px canvas (paper: 56 on 120; "
            f"class offset {(config.get('canvas') or 0) - (config.get('item') or 0)} px, a multiple of the total "
            f"stride). The frame ({config.get('frame_colour')}) is added in pixel space before normalisation; the "
            f"paper instead padded the first convolution. Crosses: the paper's values as stated for its Fig. 4. "
            f"<em>pretrained (Fashion-MNIST)</em> is a backbone trained here on Fashion-MNIST, not ImageNet.</p>")
