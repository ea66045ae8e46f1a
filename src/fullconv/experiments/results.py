"""results.json: rows, their summary (mean/std/n per variant), the pattern verdict and where it ran.

``pattern`` holds ``reproduced`` (bool, or None without a check) and ``detail``. Experiments with
``effects`` add ``verdict`` ("reproduced" | "contradicted" | "not resolved", from 95 % t-intervals
of paired differences over seeds, :mod:`fullconv.experiments.stats`) and ``effects``: one
``{"metric", "comparison", "mean_diff", "ci95": [lo, hi], "n_seeds", "sign", "claim", "verdict",
"diffs"}`` per comparison; ``reproduced`` is then true only for the verdict "reproduced".
"""
from __future__ import annotations

import json
import math
import platform
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torchvision

from ..utils.io import atomic_write_json
from .stats import describe, overall_verdict

RESULTS = "results.json"


def summarize(rows: Iterable[dict], group_by: Sequence[str], metrics: Sequence[str]) -> list[dict]:
    """One summary row per distinct ``group_by`` values (first-seen order).

    Each has the group keys, ``<metric>_mean`` and ``<metric>_std`` (sample std, 0 for one value;
    None and NaN values are left out) for every metric, and ``n`` (rows in the group).
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(_hashable(row.get(key)) for key in group_by), []).append(row)
    summary = []
    for key, members in groups.items():
        entry: dict[str, Any] = {name: members[0].get(name) for name in group_by}
        for metric in metrics:
            values = [float(r[metric]) for r in members
                      if r.get(metric) is not None and not math.isnan(float(r[metric]))]
            mean = sum(values) / len(values) if values else None
            std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1
                   else 0.0 if values else None)
            entry[f"{metric}_mean"], entry[f"{metric}_std"] = mean, std
        entry["n"] = len(members)
        summary.append(entry)
    return summary


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def environment(device: torch.device | str) -> dict[str, str]:
    """Versions and hardware the numbers come from."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "python": sys.version.split()[0],
            "device": f"{device.type}: {name}", "platform": platform.platform()}


def build_results(experiment, preset: str, config: dict, rows: list[dict], device: torch.device | str,
                  wall_time_s: float) -> dict:
    """The results.json document of one run (the pattern verdict from ``experiment.check``)."""
    summary = summarize(rows, experiment.group_by, experiment.metrics)
    if experiment.effects is not None:
        pattern = effects_pattern([e for e in experiment.effects(rows) if e is not None])
    elif experiment.check is None:
        pattern = {"reproduced": None, "detail": "this experiment has no pattern check"}
    else:
        reproduced, detail = experiment.check(summary)
        pattern = {"reproduced": bool(reproduced), "detail": str(detail)}
    return {"experiment": experiment.name, "title": experiment.display_title, "preset": preset, "config": config,
            "environment": environment(device), "wall_time_s": wall_time_s, "rows": rows, "summary": summary,
            "pattern": pattern, "paper": experiment.paper}


def effects_pattern(effects: list[dict]) -> dict:
    """The ``pattern`` of an experiment judged by its effects (module docstring)."""
    verdict = overall_verdict(effects)
    claimed = [describe(e) for e in effects if e["claim"]]
    detail = "; ".join(claimed) if claimed else "no paired same/variant seeds to compare"
    return {"verdict": verdict, "reproduced": verdict == "reproduced",
            "detail": f"{verdict} (95 % t-intervals over paired seeds): {detail}", "effects": effects}


def write_results(folder: Path | str, results: dict) -> Path:
    """Write ``folder/results.json`` atomically; returns its path."""
    path = Path(folder) / RESULTS
    atomic_write_json(path, results)
    return path


def read_results(folder: Path | str) -> dict:
    """Read ``folder/results.json`` (FileNotFoundError naming the file when it is missing)."""
    path = Path(folder) / RESULTS
    if not path.exists():
        raise FileNotFoundError(f"no results in {path}; run the experiment first (fullconv run ...)")
    return json.loads(path.read_text())
