"""Figures per experiment (``fullconv.report.<experiment>``) and the report.html assembly.

An experiment's report module is ``fullconv/report/<name_with_underscores>.py`` with
``figures(results: dict, out_dir: Path) -> list[Path]`` and optionally ``section(results) -> str``.
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType


def report_module(name: str) -> ModuleType | None:
    """``fullconv.report.<name with underscores>`` when it exists, else None."""
    module = f"{__name__}.{name.replace('-', '_')}"
    if importlib.util.find_spec(module) is None:
        return None
    return importlib.import_module(module)


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
