"""Run one experiment: config from preset + ``--set``, a RunContext, ``exp.run``, results.json, figures."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ..training.checkpoint import atomic_write_json
from ..training.distributed import barrier, init_from_env, resolve_device
from ..training.seed import deterministic
from .config import apply_preset, config_dict, parse_sets
from .context import RunContext
from .registry import Experiment, get
from .results import RESULTS, build_results, write_results

#: Marks a folder as the output of one (experiment, preset, config).
RUN_FILE = "run.json"


def default_out(preset: str) -> Path:
    return Path("runs") / preset


def build_config(experiment: Experiment, preset: str, sets: Sequence[str] = (), seeds: int | None = None):
    """The experiment's config: preset overrides, then ``--set`` values, then ``--seeds``."""
    overrides = parse_sets(experiment.config_cls, sets)
    config = apply_preset(experiment.config_cls, experiment.presets, preset, overrides)
    if seeds is not None:
        if seeds < 1:
            raise ValueError(f"--seeds {seeds}: need at least one seed")
        config = replace(config, seeds=seeds)
    return config


def claim_folder(folder: Path, experiment: str, preset: str, config: dict) -> None:
    """Make ``folder`` this run's, or raise if it holds another experiment's, preset's or config's results."""
    for marker in (folder.parent / RUN_FILE, folder.parent / RESULTS):
        if marker.exists():
            raise ValueError(f"{folder.parent} is itself an experiment's output folder; pass its parent or a new "
                             f"folder as --out")
    run_file = folder / RUN_FILE
    if run_file.exists():
        owner = json.loads(run_file.read_text())
        for what, mine in (("experiment", experiment), ("preset", preset), ("config", config)):
            if owner.get(what) != mine:
                theirs = owner.get(what) if what != "config" else "different settings"
                raise ValueError(f"{folder} holds results of {what} {theirs!r}; use --redo to replace them or "
                                 f"another --out")
    elif folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty and was not written by fullconv; choose another --out")
    atomic_write_json(run_file, {"experiment": experiment, "preset": preset, "config": config})


def run_experiment(name: str | Experiment, *, preset: str = "quick", out: Path | str | None = None,
                   seeds: int | None = None, device: str = "auto", resume: bool = False, redo: bool = False,
                   data: str | None = None, weights: Path | str | None = None, sets: Sequence[str] = (),
                   figures: bool = True) -> dict:
    """Run one experiment into ``out/<name>/`` and return its results (also written to results.json).

    Finished units are reused from their caches; ``resume`` continues a unit interrupted mid-training
    from its checkpoint; ``redo`` deletes the experiment's folder first.
    """
    experiment = name if isinstance(name, Experiment) else get(name)
    config = build_config(experiment, preset, sets, seeds)
    torch_device = resolve_device(device)
    dist = init_from_env(torch_device)
    folder = Path(out if out is not None else default_out(preset)) / experiment.name
    if weights is not None and not Path(weights).exists():
        raise FileNotFoundError(f"--weights {weights}: no such file")
    if dist.is_main:
        if redo and folder.exists():
            shutil.rmtree(folder)
        claim_folder(folder, experiment.name, preset, config_dict(config))
    barrier()
    ctx = RunContext(out_dir=folder, device=torch_device, preset=preset, seeds=list(range(config.seeds)),
                     data=data, weights=Path(weights) if weights is not None else None, resume=resume,
                     distributed=dist)
    start = time.perf_counter()
    with deterministic(torch_device.type == "cpu"):  # and nothing the run sets outlives it
        rows = experiment.run(config, ctx)
    results = build_results(experiment, preset, config_dict(config), list(rows), torch_device,
                            time.perf_counter() - start)
    if dist.is_main:
        write_results(folder, results)
        if figures:
            from ..report import figures_for
            results["figures"] = [str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p)
                                  for p in figures_for(experiment.name, results, folder)]
            write_results(folder, results)
    return results
