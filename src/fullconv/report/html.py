"""report.html: one self-contained page with every experiment's verdict, tables and figures (base64 PNG/GIF)."""
from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Mapping, Sequence

from ..experiments.registry import all_experiments, ordered
from ..experiments.results import RESULTS
from ..utils.io import atomic_write_text
from . import experiment_of, section_for
from .tables import Raw, badge, escape, paper_table, pattern_verdict, summary_table, table

REPORT = "report.html"
MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330;line-height:1.5}
main{max-width:1400px;margin:0 auto;padding:2rem 1.5rem 4rem;box-sizing:border-box}
h1{font-size:1.8rem;margin:0 0 .3rem} h2{font-size:1.35rem;margin:0 0 .4rem} h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
.meta{color:#5b6472;font-size:.9rem;margin-bottom:1.5rem}
section{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:1.4rem 1.6rem;margin:1.4rem 0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem;max-width:100%}
th,td{padding:.3rem .6rem;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.num{white-space:nowrap}
th{background:#f0f2f5;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:hover{background:#fafbfc}
.verdict{padding:.45rem .8rem;border-radius:6px;display:inline-block;margin:.3rem 0}
.verdict.yes{background:#e3f6e8;color:#17662f} .verdict.no{background:#fde7e7;color:#9b1c1c} .verdict.na{background:#eef0f3;color:#5b6472}
.badge{padding:.1rem .5rem;border-radius:4px;font-size:.85rem;font-weight:600}
.badge.yes{background:#e3f6e8;color:#17662f} .badge.no{background:#fde7e7;color:#9b1c1c} .badge.na{background:#eef0f3;color:#5b6472}
.side{display:flex;gap:2rem;flex-wrap:wrap} .side>div{flex:1 1 420px;min-width:0}
figure{margin:1rem 0} figure img{max-width:100%;border:1px solid #e3e6eb;border-radius:6px}
figcaption{color:#5b6472;font-size:.85rem}
details{margin-top:.8rem} summary{cursor:pointer;color:#3b5bdb}
pre{background:#f0f2f5;padding:.6rem;border-radius:6px;overflow-x:auto;font-size:.8rem}
a{color:#3b5bdb}
"""


def embed(path: Path) -> str:
    """An <img> whose source is the file itself (base64 data URI)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{escape(path.name)}" src="data:{MIME.get(path.suffix.lower(), "image/png")};base64,{data}">'


def figure_paths(folder: Path, results: dict) -> list[Path]:
    """The figures of one experiment: those listed in results.json, else every image in its folder."""
    listed = [folder / p for p in results.get("figures", [])]
    if listed:
        return [p for p in listed if p.exists()]
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in MIME)


def experiment_section(results: dict, folder: Path) -> str:
    """One experiment: title, verdict, our summary next to the paper's numbers, its own fragment, figures.

    The summary table's columns are the registry's ``group_by`` and ``metrics`` of the experiment
    (the keys its summary was built with); results of an experiment that is not registered here
    show every key of their summary rows.
    """
    name = results["experiment"]
    pattern = results.get("pattern", {})
    experiment = experiment_of(name)
    if experiment is not None:
        group_by, metrics = list(experiment.group_by), list(experiment.metrics)
    else:
        group_by = [k for k in (results["summary"][0] if results["summary"] else {}) if not k.endswith(("_mean", "_std"))
                    and k != "n"]
        metrics = list(dict.fromkeys(k[:-5] for row in results["summary"] for k in row if k.endswith("_mean")))
    ours = summary_table(results["summary"], group_by, metrics) if results["summary"] else "<p>no rows</p>"
    paper = paper_table(results["paper"]) if results.get("paper") is not None else "<p>no published numbers</p>"
    try:
        own = section_for(name, results)
    except Exception as error:  # a broken fragment must not cost the rest of the page
        own = f'<p class="verdict no">this section\'s own tables could not be drawn: {escape(repr(error))}</p>'
    figures = "".join(f"<figure>{embed(p)}<figcaption>{escape(p.name)}</figcaption></figure>"
                      for p in figure_paths(folder, results))
    config = escape(json.dumps(results.get("config", {}), indent=1))
    environment = escape(json.dumps(results.get("environment", {}), indent=1))
    return f"""<section id="{escape(name)}">
<h2>{escape(results.get("title") or name)} <small>({escape(name)}, preset {escape(results.get("preset"))})</small></h2>
{pattern_verdict(pattern)}
<div class="side"><div><h3>Ours</h3>{ours}</div><div><h3>Paper</h3>{paper}</div></div>
{own}
{figures}
<details><summary>configuration, environment, {len(results.get("rows", []))} rows</summary>
<pre>{config}</pre><pre>{environment}</pre></details>
</section>"""


def render_report(entries: Sequence[tuple[dict, Path]], failures: Mapping[str, str] | None = None,
                  title: str = "fullconv: reproducing Kayhan & van Gemert (CVPR 2020)",
                  missing: Mapping[str, str] | None = None) -> str:
    """The whole page from (results, experiment folder) pairs, the experiments that failed (name -> message)
    and those without results (name -> why: not run, stopped before it completed)."""
    failures = dict(failures or {})
    missing = {name: why for name, why in (missing or {}).items() if name not in failures}
    overview = [[Raw(f'<a href="#{escape(r["experiment"])}">{escape(r.get("title") or r["experiment"])}</a>'),
                 r.get("preset"), Raw(badge(r.get("pattern"))),
                 r.get("pattern", {}).get("detail", ""), _duration(r.get("wall_time_s"))] for r, _ in entries]
    overview += [[name, "", Raw('<span class="badge no">failed</span>'), message, ""]
                 for name, message in failures.items()]
    overview += [[name, "", Raw('<span class="badge na">no results</span>'), why, ""] for name, why in missing.items()]
    total = sum(r.get("wall_time_s") or 0 for r, _ in entries)
    sections = "\n".join(experiment_section(r, folder) for r, folder in entries)
    failed = "".join(f'<section id="{escape(n)}"><h2>{escape(n)}</h2><p class="verdict {css}">{word}: {escape(m)}</p>'
                     f"</section>" for found, word, css in ((failures, "failed", "no"), (missing, "no results", "na"))
                     for n, m in found.items())
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{escape(title)}</h1>
<p class="meta">{len(entries)} experiments · total run time {_duration(total)} · written {now}</p>
<section><h2>Summary</h2>
{table(["experiment", "preset", "verdict", "detail", "run time"], overview)}
</section>
{sections}
{failed}
</main></body></html>
"""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def write_report(out_dir: Path | str, names: Sequence[str] | None = None,
                 failures: Mapping[str, str] | None = None) -> Path:
    """Write ``out_dir/report.html`` from every complete ``out_dir/<experiment>/results.json`` (in the paper's order).

    Every registered experiment appears: with its results, as failed (``failures``), or with the
    reason it has none (not run; stopped before it completed, so no results.json).
    """
    out_dir = Path(out_dir)
    folders = [out_dir / n for n in names] if names is not None else [p for p in out_dir.iterdir() if p.is_dir()]
    found = [(json.loads((f / RESULTS).read_text()), f) for f in folders if (f / RESULTS).exists()]
    rank = {e.name: i for i, e in enumerate(ordered(all_experiments()))}
    found.sort(key=lambda entry: (rank.get(entry[0]["experiment"], len(rank)), entry[0]["experiment"]))
    done = {r["experiment"] for r, _ in found}
    missing = {e.name: missing_reason(out_dir / e.name) for e in ordered(all_experiments()) if e.name not in done}
    path = out_dir / REPORT
    atomic_write_text(path, render_report(found, failures, missing=missing))
    return path


def missing_reason(folder: Path) -> str:
    """Why an experiment's folder has no results.json."""
    if not folder.exists():
        return "not run"
    return ("started but not complete (stopped, failed or still running: results.json is written last); "
            "run it again to finish from its cached units")
