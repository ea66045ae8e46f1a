"""Figures of the action experiment: train/val accuracy per epoch, one line per variant; final accuracies table."""
from __future__ import annotations

from pathlib import Path

from .effects import effects_figure, effects_table, head_note, losses_note, resolution_sentence
from .figures import save_figure
from .tables import Raw, escape, mean_std, pattern_verdict, table

DATASET_NAMES = {"ucf101": "UCF-101", "hmdb51": "HMDB-51", "moving": "moving items"}


def variant_label(border: str, dims: str | None) -> str:
    if border == "same":
        return "same"
    return f"{border}, {'space' if dims == 'spatial' else 'space + time' if dims == 'spacetime' else 'dims not stated'}"


def mean_curves(rows: list[dict]) -> dict[tuple[str, int], dict[tuple[str, str], tuple[list[float], list[float]]]]:
    """(dataset, depth) -> (border, dims) -> (train curve, val curve), averaged over seeds epoch by epoch."""
    grouped: dict = {}
    for row in rows:
        key = (row["dataset"], row["depth"])
        grouped.setdefault(key, {}).setdefault((row["border"], row["dims"]), []).append(row)
    out: dict = {}
    for key, variants in grouped.items():
        for variant, members in variants.items():
            curves = []
            for name in ("curve_train_acc", "curve_val_acc"):
                length = min(len(m[name]) for m in members)
                curves.append([sum(m[name][e] for m in members) / len(members) for e in range(length)])
            out.setdefault(key, {})[variant] = tuple(curves)
    return out


def figures(results: dict, out_dir: Path) -> list[Path]:
    """One PNG per (data set, depth): validation (solid) and training (dashed) accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [p for p in [effects_figure(results, Path(out_dir) / "action_effects.png", paper_effects(results),
                                        "action: full − same, validation clip accuracy (paper, red)")] if p is not None]
    for (dataset, depth), variants in sorted(mean_curves(results.get("rows", [])).items()):
        if not any(val for _, val in variants.values()):
            continue  # trained without per-epoch validation: no curves
        fig, ax = plt.subplots(figsize=(7.5, 4))
        order = sorted(variants.items(), key=lambda item: (item[0][0] != "same", item[0][0], item[0][1] != "spatial"))
        for i, ((border, dims), (train, val)) in enumerate(order):
            label = variant_label(border, dims)
            ax.plot(range(1, len(val) + 1), val, color=f"C{i}", linestyle="-", label=f"{label} (val)")
            ax.plot(range(1, len(train) + 1), train, color=f"C{i}", linestyle="--", linewidth=0.9,
                    label=f"{label} (train)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("clip accuracy (%)")
        ax.set_ylim(0, 101)
        ax.set_title(f"{DATASET_NAMES.get(dataset, dataset)}: 3D ResNet-{depth}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.tight_layout()
        paths.append(save_figure(fig, Path(out_dir) / f"action_{dataset}_resnet{depth}.png", dpi=120))
    return paths


def paper_value(paper: list[dict], row: dict) -> float | None:
    """The paper's clip accuracy of a summary row's variant (a ``full`` number with unstated dims matches both)."""
    for dims in (row["dims"], None):
        for entry in paper or []:
            if (entry["dataset"], entry["depth"], entry["border"], entry["dims"]) == (
                    row["dataset"], row["depth"], row["border"], dims):
                return entry["val_acc"]
    return None


def paper_effects(results: dict) -> dict[str, float]:
    """``metric|comparison`` -> the paper's full − same clip accuracy of that data set, depth and dims."""
    out = {}
    for e in (results.get("pattern") or {}).get("effects") or []:
        for row in results.get("summary", []):
            if f"{row['dataset']} d{row['depth']} {row['border']} over {row['dims']} − same" == e["comparison"]:
                full = paper_value(results.get("paper"), row)
                same = paper_value(results.get("paper"), {**row, "border": "same", "dims": "spacetime"})
                if full is not None and same is not None:
                    out[f"{e['metric']}|{e['comparison']}"] = full - same
    return out


def section(results: dict) -> str:
    """Final train and validation clip accuracy per variant, next to the paper's test clip accuracy."""
    rows = [[DATASET_NAMES.get(r["dataset"], r["dataset"]), f"ResNet-{r['depth']}", variant_label(r["border"], r["dims"]),
             Raw(escape(mean_std(r.get("train_acc_mean"), r.get("train_acc_std")))),
             Raw(escape(mean_std(r.get("val_acc_mean"), r.get("val_acc_std")))),
             paper_value(results.get("paper"), r), r.get("n")]
            for r in results.get("summary", [])]
    pattern = results.get("pattern", {})
    note = ("<p>Accuracies after the last epoch (no selection on the validation clips, which are the official "
            "test list for UCF-101/HMDB-51). The paper reports clip accuracy on split 1 and gives the "
            "dims of its <code>full</code> model only for UCF-101 ResNet-18; <code>full-exact</code> is ours.</p>")
    paper = paper_effects(results)
    ucf18 = [e["val_acc"] for e in results.get("paper") or [] if (e["dataset"], e["depth"]) == ("ucf101", 18)]
    paper_spread = max(ucf18) - min(ucf18) if ucf18 else None
    effects = ("<h3>Effects (95 % intervals)</h3><p>" + head_note(results)
               + "PyTorch's default classifier init and dampened SGD (the paper's) keep <code>full</code> from "
               "training slower too. " + escape(resolution_sentence(results, paper_spread)) + "</p>"
               + effects_table(results, paper)
               + losses_note(results, ("dataset", "depth", "border", "dims"), {"border": "same", "dims": "spacetime"}))
    return (pattern_verdict(pattern) + note + effects +
            table(["data", "model", "variant", "train acc", "val acc", "paper", "n"], rows))
