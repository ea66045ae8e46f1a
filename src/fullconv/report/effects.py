"""Effects with their 95 % intervals: an error-bar figure next to the paper's effect, a table, and a
sentence on what the experiment can resolve at its scale. Used by the benefit experiments' report
modules; reads ``pattern.effects`` of results.json (:mod:`fullconv.experiments.results`)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .figures import save_figure
from .tables import Raw, escape, number, table, verdict_of


def half_widths(effects: list[dict]) -> list[float]:
    """Half widths of the claimed effects' intervals (those that have one)."""
    return [(e["ci95"][1] - e["ci95"][0]) / 2 for e in effects if e.get("claim", True) and e["ci95"][0] is not None]


def resolution_sentence(results: dict, paper_effect: float | None = None) -> str:
    """One sentence: the size of effect this run can tell from 0, and whether the paper's would show."""
    effects = (results.get("pattern") or {}).get("effects") or []
    widths = half_widths(effects)
    if not widths:
        return ("With one seed per variant this run gives no interval: it cannot tell any effect from seed "
                "noise; run more seeds (--seeds N) for a verdict.")
    seeds = max(e["n_seeds"] for e in effects)
    typical = sorted(widths)[len(widths) // 2]
    sentence = (f"With {seeds} paired seeds the 95 % intervals are about ±{typical:.1f} points wide, so this run "
                f"resolves effects larger than about {typical:.1f} points and reads smaller ones as 'not resolved'")
    if paper_effect is not None:
        sentence += (f"; the paper's effect of {paper_effect:+.1f} points "
                     f"{'would' if abs(paper_effect) > typical else 'would not'} be resolved at this scale, had our "
                     f"proxy the paper's effect size")
    return sentence + "."


def head_note(results: dict) -> str:
    """HTML sentence: the run's classifier head (``config.head``) and why the benefit presets use ``bnneck``."""
    head = (results.get("config") or {}).get("head")
    if head == "bnneck":
        return ("This run uses the <code>bnneck</code> head (the quick and medium presets): with <code>full</code> "
                "the last feature map is several times larger and mostly border, so plain global average pooling "
                "shrinks the pooled features and <code>full</code> would train slower in a short run; a BatchNorm "
                "on the pooled features gives every variant the same scale at the classifier. ")
    if head == "gap":
        return "This run uses the paper's head: global average pooling, then the classifier. "
    return ""


def effects_table(results: dict, paper: Mapping[str, float] | None = None) -> str:
    """Every effect: comparison, metric, mean difference, interval, seeds, verdict, and the paper's effect."""
    paper = paper or {}
    rows = []
    for e in (results.get("pattern") or {}).get("effects") or []:
        low, high = e["ci95"]
        rows.append([e["comparison"], e["metric"], number(e["mean_diff"], 2),
                     "–" if low is None else f"[{low:+.2f}, {high:+.2f}]", e["n_seeds"],
                     Raw(f"<b>{escape(e['verdict'])}</b>") if e.get("claim", True) else f"({e['verdict']}, not judged)",
                     paper.get(_key(e))])
    return table(["comparison", "metric", "mean difference", "95 % interval (t, paired seeds)", "seeds", "verdict",
                  "paper's effect"], rows)


def _key(effect: dict) -> str:
    return f"{effect['metric']}|{effect['comparison']}"


def effects_figure(results: dict, path: Path, paper: Mapping[str, float] | None = None,
                   title: str = "") -> Path | None:
    """Horizontal error bars (mean and 95 % interval) of the claimed effects; the paper's effect as a red mark."""
    effects = [e for e in (results.get("pattern") or {}).get("effects") or [] if e.get("claim", True)]
    if not effects:
        return None
    import matplotlib.pyplot as plt

    paper = paper or {}
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(effects) + 1.4))
    for i, e in enumerate(effects):
        low, high = e["ci95"]
        colour = {"yes": "C2", "no": "C3"}.get(verdict_of(e)[2], "C7")
        if low is not None:
            ax.plot([low, high], [i, i], color=colour, linewidth=2.5, solid_capstyle="butt")
        ax.plot([e["mean_diff"]], [i], "o", color=colour)
        if _key(e) in paper:
            ax.plot([paper[_key(e)]], [i], "D", color="red", markersize=6,
                    label="paper" if i == next(j for j, f in enumerate(effects) if _key(f) in paper) else None)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(effects)), [f"{e['metric']}: {e['comparison']}" for e in effects], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("difference (points): mean and 95 % t-interval over paired seeds")
    ax.set_title(title or "effects", fontsize=9)
    if any(_key(e) in paper for e in effects):
        ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def training_losses(results: dict, group: tuple[str, ...]) -> list[list]:
    """Rows ``[*group values, mean final training loss, seeds]``: whether the variants trained alike."""
    sums: dict[tuple, list[float]] = {}
    for row in results.get("rows", []):
        if row.get("train_loss") is not None:
            sums.setdefault(tuple(row.get(k) for k in group), []).append(row["train_loss"])
    return [[*key, sum(v) / len(v), len(v)] for key, v in sums.items()]


def loss_gaps(results: dict, group: tuple[str, ...], reference: Mapping[str, object]) -> list[float]:
    """Relative gaps |loss − loss of its reference| / loss of its reference, one per variant that has one.

    A variant's reference is the row with the same ``group`` values except those in ``reference``.
    """
    rows = {tuple(r[:-2]): r[-2] for r in training_losses(results, group)}
    gaps = []
    for key, loss in rows.items():
        ref_key = tuple(reference.get(k, v) for k, v in zip(group, key))
        if ref_key != key and rows.get(ref_key):
            gaps.append(abs(loss - rows[ref_key]) / rows[ref_key])
    return gaps


def losses_note(results: dict, group: tuple[str, ...], reference: Mapping[str, object]) -> str:
    """A table of final training losses and the largest relative gap of a variant to its ``same`` twin."""
    rows = training_losses(results, group)
    if not rows:
        return ""
    gaps = loss_gaps(results, group, reference)
    tail = f": the largest gap to same is {100 * max(gaps):.0f} %." if gaps else "."
    text = ("<p>Final training loss per variant, averaged over seeds (the variants should train alike, so that "
            "a verdict is not a training-speed handicap)" + tail + "</p>")
    return text + table([*group, "final training loss", "seeds"], [[*r[:-2], number(r[-2], 3), r[-1]] for r in rows])
