"""The probe's output: probe.json, three PNG figures and a self-contained probe.html card."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..utils.io import atomic_write_bytes

if TYPE_CHECKING:
    from .core import ProbeResult

FIGURES = ("reach.png", "shift.png", "decodability.png")
COLOURS = {"original": "#c0392b", "converted": "#2471a3"}


def _label(result: "ProbeResult", variant: str) -> str:
    return result.name if variant == "original" else f"{result.name} → {result.border}"


def _figures(result: "ProbeResult", out: Path) -> list[Path]:
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = []

    def save(fig, name: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(out / name, buffer.getvalue())
        drawn.append(out / name)

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for variant, reach in result.reach.items():
        fractions = [100 * layer["fraction"] for layer in reach["layers"]]
        ax.plot(range(1, len(fractions) + 1), fractions, marker=".", color=COLOURS[variant],
                label=_label(result, variant))
    size = result.geometry["reach_input_size"]
    ax.set(xlabel="spatial layer (in the order they run)", ylabel="positions reaching the padding (%)",
           title=f"Border reach at a {size[0]}×{size[1]} input", ylim=(-3, 103))
    ax.legend(fontsize=8)
    save(fig, FIGURES[0])

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    floor = 1e-9
    for variant, shift in result.shift.items():
        # the last distance is the reference position itself (change 0 by definition): not drawn
        distances, change = shift["distances"][:-1], [max(c, floor) for c in shift["mean_change"][:-1]]
        ax.plot(distances, change, color=COLOURS[variant], label=_label(result, variant))
        marked = [(d, c) for d, c, m in zip(distances, change, shift["stride_multiple"]) if m]
        ax.scatter([d for d, _ in marked], [c for _, c in marked], color=COLOURS[variant], zorder=3, s=18)
    ax.set_yscale("log")
    first = next(iter(result.shift.values()))
    ax.set(xlabel="distance of the item from the top-left border (px)",
           ylabel=f"relative change of the {first['of']}",
           title=f"Shift sensitivity (dots: shifts by multiples of the stride {result.geometry['total_stride']})")
    ax.axhline(result.config["tolerance"], color="grey", lw=0.8, ls=":", label="float rounding tolerance")
    ax.legend(fontsize=8)
    save(fig, FIGURES[1])

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for variant, summary in result.decodability.items():
        rows = summary["frames"]
        frames = [r["frame"] for r in rows]
        ax.plot(frames, [100 * r["accuracy"] for r in rows], marker="o", color=COLOURS[variant],
                label=_label(result, variant))
        ax.fill_between(frames, [100 * r["ci_low"] for r in rows], [100 * r["ci_high"] for r in rows],
                        color=COLOURS[variant], alpha=0.15)
    ax.axhline(50, color="grey", lw=0.8, ls="--", label="chance")
    ax.set(xlabel="black frame around the canvas (px)", ylabel="location accuracy of a linear probe (%)",
           title="Location decodability (quadrant test, 95 % Wilson interval)", ylim=(0, 103))
    ax.legend(fontsize=8)
    save(fig, FIGURES[2])
    return drawn


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "0" if value == 0 else (f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.1e}")
    return html.escape(str(value))


def _stride_multiple(shift: dict) -> str:
    if shift["zero_at_stride_multiples"]:
        return f"0 (rounding: {_fmt(shift['stride_multiple_max'])})"
    return _fmt(shift["stride_multiple_max"])


def _table(result: "ProbeResult") -> str:
    rows = []
    for variant in result.reach:
        reach = result.reach[variant]["layers"]
        shift = result.shift[variant]
        decoding = result.decodability[variant]
        largest = decoding["largest_decodable_frame"]
        rows.append(
            f"<tr><th>{html.escape(_label(result, variant))}</th>"
            f"<td>{sum(layer['fraction'] == 1.0 for layer in reach)} of {len(reach)}</td>"
            f"<td>{_stride_multiple(shift)}</td><td>{_fmt(shift['between_mean'])}</td>"
            f"<td>{'never' if largest is None else f'{largest} px'}</td>"
            f"<td>{' / '.join(_fmt(100 * r['accuracy']) for r in decoding['frames'])}</td></tr>")
    frames = ", ".join(str(f) for f in result.config["frames"])
    return ("<table><tr><th></th><th>layers whose every position reaches the padding</th>"
            "<th>shift change at stride multiples (max)</th><th>shift change in between (mean)</th>"
            f"<th>largest decodable frame</th><th>accuracy % at frames {frames} px</th></tr>"
            + "".join(rows) + "</table>")


def _html(result: "ProbeResult", out: Path) -> str:
    images = "".join(
        f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode((out / name).read_bytes()).decode()}">'
        for name in FIGURES)
    geometry = result.geometry
    config = result.config
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    details = (f"Items of {config['item']} px; quadrant canvas {geometry['quadrant_canvas']} px (placements "
               f"{geometry['offset']} px apart, a multiple of the total stride {geometry['total_stride']}); "
               f"{config['train_items']} training and {config['test_items']} test items per frame; shift canvas "
               f"{geometry['shift_canvas']} px with {config['shift_items']} items moved from its middle to its "
               f"border; feature pairs closer than {config['tolerance']:g} (relative) count as one point.")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fullconv probe: {html.escape(result.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 1.5em auto; color: #222; }}
.verdict {{ font-size: 1.25em; padding: .6em .9em; background: #f4f6f8; border-left: 4px solid #2471a3; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: .9em; }}
td, th {{ border: 1px solid #ccc; padding: .3em .6em; text-align: left; }}
img {{ width: 32%; min-width: 18em; }}
.small {{ font-size: .85em; color: #555; }}
</style></head><body>
<h1>fullconv probe: {html.escape(result.name)}</h1>
<p class="verdict">{html.escape(result.verdict)}</p>
{_table(result)}
<div>{images}</div>
<p class="small">{html.escape(details)}</p>
<ul class="small">{notes}</ul>
</body></html>
"""


def write_card(result: "ProbeResult", out: Path) -> list[Path]:
    """Write ``out``/probe.json, reach.png, shift.png, decodability.png and probe.html."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "probe.json", json.dumps(result.as_dict(), indent=1).encode())
    written = [out / "probe.json"] + _figures(result, out)
    atomic_write_bytes(out / "probe.html", _html(result, out).encode())
    return written + [out / "probe.html"]
