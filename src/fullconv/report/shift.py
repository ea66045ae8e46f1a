"""Shift experiment: diagonal-accuracy and consistency tables next to the paper's, and the diagonal-shift curves."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..experiments.shift import variant_name  # noqa: E402
from .effects import effects_figure, effects_table, head_note, losses_note, resolution_sentence  # noqa: E402
from .figures import save_figure  # noqa: E402
from .tables import Raw, escape, mean_std, number, table  # noqa: E402

PAPER_ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")
PAPER_VARIANTS = ("same", "full", "same+blurpool", "full+blurpool")
METRICS = (("diagonal_acc", "Diagonal-shift accuracy (%)"), ("consistency", "Consistency (%)"),
           ("canvas_consistency", "Canvas consistency (%): the same content at two places on a background canvas"))


def variant(row: dict) -> str:
    """``same``, ``full+blurpool``, ``full-exact+polyphase``, ... (rows of earlier versions have no downsample)."""
    return variant_name(row["border"], row["blurpool"], row.get("downsample") or "strided")


def _ordered_variants(summary: list[dict]) -> list[str]:
    """The paper's four variants first (when present), then ours (full-exact, ...)."""
    ours = list(dict.fromkeys(variant(r) for r in summary))
    return [v for v in PAPER_VARIANTS if v in ours] + [v for v in ours if v not in PAPER_VARIANTS]


def metric_tables(results: dict) -> dict[str, list[list]]:
    """Per metric, rows ``[arch, variant, ours (mean ± std, n), paper]`` for every arch of ours and of the paper."""
    summary = results.get("summary", [])
    paper = results.get("paper") or {}
    by_key = {(r["arch"], variant(r)): r for r in summary}
    archs = list(dict.fromkeys([r["arch"] for r in summary] + list(PAPER_ARCHS)))
    out = {}
    for metric, _ in METRICS:
        rows = []
        if not any(r.get(f"{metric}_mean") is not None for r in summary) and not any(
                metric in (v or {}) for a in paper.values() for v in a.values()):
            continue  # results of an earlier version, without this metric
        for arch in archs:
            variants = list(dict.fromkeys(_ordered_variants([r for r in summary if r["arch"] == arch]) +
                                          (list(PAPER_VARIANTS) if arch in paper else [])))
            for name in variants:
                ours = by_key.get((arch, name))
                published = (paper.get(arch) or {}).get(name) or {}
                rows.append([arch, name,
                             None if ours is None else mean_std(ours[f"{metric}_mean"], ours[f"{metric}_std"], 2),
                             None if ours is None else ours["n"],
                             published.get(metric)])
        out[metric] = rows
    return out


def paper_effects(results: dict) -> dict[str, float]:
    """``metric|comparison`` -> the paper's ResNet-18 difference of the same comparison (full − same, ± BlurPool)."""
    table18 = (results.get("paper") or {}).get("resnet18") or {}
    out = {}
    for e in (results.get("pattern") or {}).get("effects") or []:
        blur = e["comparison"].endswith("(BlurPool)")
        if " full − same" not in e["comparison"]:
            continue
        full, same = table18.get("full+blurpool" if blur else "full", {}), table18.get("same+blurpool" if blur else "same", {})
        if full.get(e["metric"]) is not None and same.get(e["metric"]) is not None:
            out[f"{e['metric']}|{e['comparison']}"] = full[e["metric"]] - same[e["metric"]]
    return out


def effects_section(results: dict) -> str:
    """Paired differences with intervals, the paper's ResNet-18 effect beside them, training losses, resolution."""
    paper = paper_effects(results)
    note = ("<p>The paper's effect is its ResNet-18 on 200 ImageNet classes; ours is the preset's network and "
            "data. " + head_note(results)
            + escape(resolution_sentence(results, max(paper.values(), default=None))) + "</p>")
    return ("<h3>Effects (95 % intervals)</h3>" + note + effects_table(results, paper)
            + losses_note(results, ("arch", "border", "blurpool"), {"border": "same"}))


def section(results: dict) -> str:
    """Effects with intervals, then two tables (diagonal accuracy, consistency): ours next to the paper's rows."""
    parts = []
    tables = metric_tables(results)
    for metric, title in METRICS:
        if metric not in tables:
            continue
        rows = [[arch, name, Raw(escape(ours)) if ours is not None else None, n,
                 Raw(escape(number(paper, 2))) if paper is not None else None]
                for arch, name, ours, n, paper in tables[metric]]
        parts.append(table(["arch", "variant", "ours", "n", "paper"], rows, caption=title))
    return effects_section(results) + "<h3>Shift metrics</h3>" + canvas_note(results) + "".join(parts)


def canvas_note(results: dict) -> str:
    """What canvas consistency shows, and whether the polyphase variants are exactly consistent."""
    poly = [r for r in results.get("summary", []) if (r.get("downsample") or "strided") != "strided"
            and r.get("canvas_consistency_mean") is not None]
    if not poly:
        return ""
    exact = [variant(r) for r in poly if r["canvas_consistency_mean"] == 100.0 and r["canvas_consistency_std"] == 0.0]
    state = (f"{', '.join(exact)}: 100.0 % in every seed, as the construction guarantees" if exact else
             "no polyphase variant reached 100 %: the guarantee does not hold here, which is a bug to report")
    return ("<p>Canvas shifts move the content on a constant background with nothing entering or leaving the "
            "view: there <code>full-exact</code> with polyphase downsampling is exactly invariant to every "
            f"integer shift ({escape(state)}). Crop shifts (consistency, diagonal accuracy) move the window over "
            "a larger image: where content enters and leaves the view, no method can be exact.</p>")


def curves(results: dict) -> dict[str, dict[str, list[float]]]:
    """Mean diagonal-shift curve per arch and variant: ``{arch: {variant: [acc at offset 0, 1, ...]}}``."""
    sums: dict[tuple[str, str], list[list[float]]] = {}
    for row in results.get("rows", []):
        sums.setdefault((row["arch"], variant(row)), []).append(row["diagonal_curve"])
    out: dict[str, dict[str, list[float]]] = {}
    for (arch, name), runs in sums.items():
        out.setdefault(arch, {})[name] = [sum(values) / len(values) for values in zip(*runs)]
    return out


def figures(results: dict, out_dir: Path) -> list[Path]:
    """``shift_diagonal.png``: accuracy against the diagonal offset, one panel per architecture."""
    made = [p for p in [effects_figure(results, Path(out_dir) / "shift_effects.png", paper_effects(results),
                                       "shift: full − same (paper: ResNet-18, red)")] if p is not None]
    per_arch = curves(results)
    if not per_arch:
        return made
    fig, axes = plt.subplots(1, len(per_arch), figsize=(4.6 * len(per_arch), 3.6), squeeze=False)
    for ax, (arch, lines) in zip(axes[0], per_arch.items()):
        for name in _ordered_variants([r for r in results.get("rows", []) if r["arch"] == arch]):
            values = lines[name]
            ax.plot(range(len(values)), values, marker=".", label=name,
                    linestyle="--" if "blur" in name else ":" if name.endswith("polyphase") else "-")
        ax.set(title=arch, xlabel="diagonal offset (pixels)", ylabel="top-1 accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return [save_figure(fig, Path(out_dir) / "shift_diagonal.png", dpi=100)] + made
