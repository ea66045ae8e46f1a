"""Figures per experiment (``fullconv.report.<experiment>``) and the report.html assembly.

An experiment names its report module in its registry entry (``Experiment.report``, e.g.
``"fullconv.report.rook"``): a module with ``figures(results: dict, out_dir: Path) -> list[Path]``
and optionally ``section(results) -> str``. Report code imports experiments, never the reverse.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from ..experiments.registry import Experiment, get


def experiment_of(name: str) -> Experiment | None:
    """The registered experiment ``name``, or None (results of an experiment this installation lacks)."""
    try:
        return get(name)
    except ValueError:
        return None


def report_module(name: str) -> ModuleType | None:
    """The module that ``name``'s registry entry names as its report (None without one)."""
    experiment = experiment_of(name)
    if experiment is None or not experiment.report:
        return None
    return importlib.import_module(experiment.report)


def figures_for(name: str, results: dict, out_dir: Path | str) -> list[Path]:
    """The figures of experiment ``name`` drawn into ``out_dir`` (none without a report module)."""
    module = report_module(name)
    if module is None or not hasattr(module, "figures"):
        return []
    return [Path(p) for p in module.figures(results, Path(out_dir))]


def section_for(name: str, results: dict) -> str:
    """The experiment's own HTML fragment for report.html ('' without one)."""
    module = report_module(name)
    if module is None or not hasattr(module, "section"):
        return ""
    return module.section(results)
