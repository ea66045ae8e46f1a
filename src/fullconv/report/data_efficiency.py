"""Figure of the data-efficiency experiment, as in the paper: accuracy difference to ``same`` against
training images per class, the ``same`` accuracy written under each point; the paper's ImageNet
numbers in a second panel."""
from __future__ import annotations

import math
from pathlib import Path

from ..datasets.subsets import ALL
from .effects import effects_figure, effects_table, head_note, losses_note, resolution_sentence
from .figures import save_figure
from .tables import escape, number, table


def per_seed_differences(rows: list[dict]) -> dict[str, dict[int, list[float]]]:
    """border -> per_class -> [acc - acc of same] over the seeds both ran."""
    acc = {(r["border"], r["per_class"], r["seed"]): r["acc"] for r in rows}
    out: dict[str, dict[int, list[float]]] = {}
    for (border, n, seed), value in acc.items():
        if border != "same" and ("same", n, seed) in acc:
            out.setdefault(border, {}).setdefault(n, []).append(value - acc[("same", n, seed)])
    return out


def same_accuracy(results: dict) -> dict[int, float]:
    return {row["per_class"]: row["acc_mean"] for row in results.get("summary", []) if row["border"] == "same"}


def _positions(sizes: list[int]) -> dict[int, float]:
    """x position of each subset size; ``ALL`` goes one factor of 2 past the largest size."""
    finite = [n for n in sizes if n != ALL]
    return {n: (2.0 * max(finite, default=1) if n == ALL else float(n)) for n in sizes}


def _label(n: int) -> str:
    return "all" if n == ALL else str(n)


def _panel(ax, curves: dict[str, list[tuple[int, float, float]]], same: dict[int, float], title: str) -> None:
    sizes = sorted({n for points in curves.values() for n, _, _ in points} | set(same),
                   key=lambda n: math.inf if n == ALL else n)
    x = _positions(sizes)
    for i, (border, points) in enumerate(sorted(curves.items())):
        points = sorted(points, key=lambda p: x[p[0]])
        ax.errorbar([x[n] for n, _, _ in points], [d for _, d, _ in points], yerr=[s for _, _, s in points],
                    marker="o", capsize=3, color=f"C{i + 1}", label=f"{border} - same")
    low = min([d - s for points in curves.values() for _, d, s in points] + [0.0])
    for n, value in same.items():
        ax.annotate(f"{value:.1f}", (x[n], low), textcoords="offset points", xytext=(0, -14), ha="center",
                    fontsize=7, color="C0")
    ax.axhline(0, color="C0", linewidth=1, label="same")
    ax.set_xscale("log")
    ax.set_xticks([x[n] for n in sizes], [_label(n) for n in sizes])
    ax.minorticks_off()
    ax.set_ylim(low - 2.5, None)
    ax.set_xlabel("training images per class (same accuracy under each point)")
    ax.set_ylabel("accuracy difference to same (points)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def figures(results: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {border: [(n, sum(d) / len(d), _std(d)) for n, d in by_size.items()]
              for border, by_size in per_seed_differences(results.get("rows", [])).items()}
    paper = results.get("paper") or {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    source = (results.get("config") or {}).get("source", "")
    _panel(axes[0], curves, same_accuracy(results), f"ours ({source}, {results.get('preset')} preset)")
    if paper:
        _panel(axes[1], {"full": [(n, d, 0.0) for n, d in zip(paper["per_class"], paper["full_minus_same"])]},
               dict(zip(paper["per_class"], paper["same"])), "paper (ImageNet, ResNet-50)")
    fig.tight_layout()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    made = [save_figure(fig, Path(out_dir) / "data_efficiency.png", dpi=120)]
    effects = effects_figure(results, Path(out_dir) / "data_efficiency_effects.png", paper_effects(results),
                             "data efficiency: full − same (paper: ImageNet ResNet-50, red)")
    return made + ([effects] if effects is not None else [])


def paper_small_mean(paper: dict) -> float | None:
    """The paper's full − same averaged over its subset sizes below the full set (50..500 per class)."""
    diffs = [d for n, d in zip(paper.get("per_class", []), paper.get("full_minus_same", [])) if n != ALL]
    return sum(diffs) / len(diffs) if diffs else None


def paper_effects(results: dict) -> dict[str, float]:
    """``metric|comparison`` -> the paper's difference: per subset size where the sizes match, and the small-data mean."""
    paper = results.get("paper") or {}
    by_size = {("all" if n == ALL else str(n)): d for n, d in zip(paper.get("per_class", []),
                                                                  paper.get("full_minus_same", []))}
    out = {}
    for e in (results.get("pattern") or {}).get("effects") or []:
        if not e["comparison"].startswith("full − same"):
            continue
        if "mean over" in e["comparison"] and paper_small_mean(paper) is not None:
            out[f"{e['metric']}|{e['comparison']}"] = paper_small_mean(paper)
        size = e["comparison"].rsplit(" at ", 1)[-1].split(" ")[0] if " at " in e["comparison"] else None
        if size in by_size:
            out[f"{e['metric']}|{e['comparison']}"] = by_size[size]
    return out


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def section(results: dict) -> str:
    """Table of the differences to same per seed-paired subset size, and where the subsets are saved."""
    same = same_accuracy(results)
    rows = [(border, _label(n), same.get(n), sum(d) / len(d), _std(d), len(d))
            for border, by_size in per_seed_differences(results.get("rows", [])).items()
            for n, d in sorted(by_size.items(), key=lambda item: math.inf if item[0] == ALL else item[0])]
    paper = results.get("paper") or {}
    effects = ("<h3>Effects (95 % intervals)</h3><p>The judged effect is each seed's full − same averaged over "
               "the subset sizes below the largest (the paper: about "
               f"{number(paper_small_mean(paper), 1)} points over 50-500 per class on ImageNet). "
               + head_note(results) + escape(resolution_sentence(results, paper_small_mean(paper))) + "</p>"
               + effects_table(results, paper_effects(results))
               + losses_note(results, ("border", "per_class"), {"border": "same"}))
    return (effects + "<p>Differences are paired by seed (same initial weights and subset). The subsets' indices "
            "are in <code>subsets.json</code>; smaller subsets are contained in larger ones.</p>"
            + table(["border", "per class", "same acc (%)", "difference (points)", "std", "seeds"], rows))
