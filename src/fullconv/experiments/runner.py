"""Run one experiment: validate everything, lock the folder, run the units, then results.json.

Order of a run, so that a failed or interrupted run loses nothing and never looks complete:
1. the config (preset + ``--set``), the output folder, ``--data`` and ``--weights`` are checked
   before anything is written;
2. an advisory lock on ``OUT/EXPERIMENT/.lock`` (holder's pid inside) keeps a second run out while
   the first lives; a lock left by a dead process is taken over;
3. units run under their identity (:mod:`fullconv.experiments.identity`) and cache their rows;
4. the caller's ``draw`` (the CLI passes :func:`fullconv.report.figures_for`) draws the figures
   from the results about to be written, and ``results.json`` is written once, last, atomically:
   a folder with ``results.json`` holds a complete run, figures included.

Drawing is handed in by the caller, so this module depends on no figure code and the dependency
goes one way: experiments <- report <- cli.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import torch

from ..training import interrupt
from ..utils.io import atomic_write_json
from ..training.distributed import barrier, init_from_env, resolve_device
from ..training.seed import deterministic
from .config import apply_preset, config_dict, parse_sets
from .context import RunContext
from .identity import identity_id, run_identity
from .registry import Experiment, get
from .results import RESULTS, build_results, write_results

#: Marks a folder as the output of one experiment.
RUN_FILE = "run.json"
#: The advisory lock of a run folder; holds the pid of the run that has it.
LOCK_FILE = ".lock"
#: Draws an experiment's figures: ``draw(name, results, folder) -> paths written``.
Draw = Callable[[str, dict, Path], Iterable[Path]]


def default_out(preset: str) -> Path:
    return Path("runs") / preset


def build_config(experiment: Experiment, preset: str, sets: Sequence[str] = (), seeds: int | None = None):
    """The experiment's config: preset overrides, then ``--set`` values, then ``--seeds``; validated."""
    overrides = parse_sets(experiment.config_cls, sets)
    if seeds is not None:
        if seeds < 1:
            raise ValueError(f"--seeds {seeds}: need at least one seed")
        overrides["seeds"] = seeds
    return apply_preset(experiment.config_cls, experiment.presets, preset, overrides)


def check_folder(folder: Path) -> None:
    """Raise unless ``folder`` is, or can be created as, a folder this process can write to (writes nothing that stays)."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"--out: {probe} is a file, not a folder; choose a folder as --out")
    test = probe / f".fullconv-write-test.{os.getpid()}"
    try:
        test.write_bytes(b"")
        test.unlink()
    except OSError as error:
        raise ValueError(f"--out: cannot write to {probe} ({error.strerror or error}); choose a writable folder") \
            from None


def check_weights(path: Path) -> None:
    """Raise unless every weights file at ``path`` is a state_dict that loads without running pickled code."""
    if not path.exists():
        raise FileNotFoundError(f"--weights {path}: no such file or folder")
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix in (".pt", ".pth"))
    if not files:
        raise FileNotFoundError(f"--weights {path}: the folder holds no .pt or .pth file")
    for file in files:
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as error:  # torch reports text files, truncated files and pickled objects alike
            reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
            raise ValueError(f"--weights {file}: not a state_dict that torch can load safely ({reason}); save "
                             f"weights with torch.save(model.state_dict(), PATH)") from None
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"--weights {file}: holds a {type(state).__name__}, not a state_dict of tensors; save "
                             f"weights with torch.save(model.state_dict(), PATH)")


def check_inputs(experiment: Experiment, config: Any, data: str | None, weights: Path | None) -> None:
    """Refuse ``--data`` / ``--weights`` an experiment would ignore with this config, and weights that do not load."""
    for option, value, reads in (("--data", data, experiment.takes_data), ("--weights", weights, experiment.takes_weights)):
        if value is not None and (reads is None or not reads(config)):
            raise ValueError(f"{option} {value}: {experiment.name} does not read {option} with these settings; "
                             f"drop it" + (f" or {experiment.inputs_hint}" if experiment.inputs_hint else ""))
    if weights is not None:
        check_weights(Path(weights))


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the advisory lock of ``folder`` (created if needed), or raise naming the pid of the run that holds it.

    ``flock`` ends with its holder, so the lock of a run that died (even by SIGKILL) is free again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ValueError(f"{folder} is in use by another fullconv run (pid {holder}); wait for it to end or "
                             f"choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def clear_folder(folder: Path) -> None:
    """``--redo``: delete everything in ``folder`` except its lock."""
    for entry in folder.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def check_claim(folder: Path, experiment: str) -> None:
    """Raise if ``folder`` cannot be this experiment's: another experiment's, not fullconv's, or inside a run folder."""
    for marker in (folder.parent / RUN_FILE, folder.parent / RESULTS):
        if marker.exists():
            raise ValueError(f"{folder.parent} is itself an experiment's output folder; pass its parent or a new "
                             f"folder as --out")
    run_file = folder / RUN_FILE
    if run_file.exists():
        owner = json.loads(run_file.read_text()).get("experiment")
        if owner != experiment:
            raise ValueError(f"{folder} holds results of experiment {owner!r}; choose another --out")
    elif folder.exists() and any(p.name != LOCK_FILE for p in folder.iterdir()):
        raise ValueError(f"{folder} is not empty and was not written by fullconv; choose another --out")


@dataclass(frozen=True)
class Plan:
    """A run checked and resolved, before anything is written: what ``--dry-run`` shows."""

    experiment: Experiment
    preset: str
    config: Any
    folder: Path
    device: torch.device
    identity: dict
    identity_id: str

    def describe(self) -> dict:
        """The fully resolved run as JSON values."""
        return {"experiment": self.experiment.name, "preset": self.preset, "config": config_dict(self.config),
                "folder": str(self.folder), "device": str(self.device), "identity": self.identity_id,
                "identity_fields": self.identity}


def plan_run(name: str | Experiment, *, preset: str = "quick", out: Path | str | None = None,
             seeds: int | None = None, device: str = "auto", data: str | None = None,
             weights: Path | str | None = None, sets: Sequence[str] = ()) -> Plan:
    """Check everything a run needs and resolve its config and identity; raises on bad input, writes nothing."""
    experiment = name if isinstance(name, Experiment) else get(name)
    config = build_config(experiment, preset, sets, seeds)
    torch_device = resolve_device(device)
    dist = init_from_env(torch_device)
    folder = Path(out if out is not None else default_out(preset)) / experiment.name
    if dist.is_main:  # the other ranks would see rank 0's lock and run.json
        check_folder(folder)
        check_claim(folder, experiment.name)
    weights = Path(weights) if weights is not None else None
    check_inputs(experiment, config, data, weights)
    if experiment.validate is not None:
        experiment.validate(config, _context(experiment, config, folder, torch_device, data, weights))
    identity = run_identity(config_dict(config), data=data, weights=weights, device=torch_device.type,
                            world_size=dist.world_size)
    return Plan(experiment, preset, config, folder, torch_device, identity, identity_id(identity))


def _context(experiment: Experiment, config: Any, folder: Path, device: torch.device, data: str | None,
             weights: Path | None) -> RunContext:
    from ..training.distributed import info
    return RunContext(out_dir=folder, device=device, preset="", seeds=list(range(config.seeds)), data=data,
                      weights=weights, distributed=info())


def has_results(folder: Path, identity: str) -> bool:
    """Whether ``folder`` holds the complete results of a run of ``identity``."""
    try:
        return json.loads((folder / RESULTS).read_text()).get("identity") == identity
    except (OSError, ValueError):
        return False


def stored_identity(folder: Path) -> dict | None:
    """The identity of the complete run in ``folder`` (from its units' record), None when there is none."""
    try:
        theirs = json.loads((folder / RESULTS).read_text()).get("identity")
        return json.loads((folder / "units" / str(theirs) / "identity.json").read_text())
    except (OSError, ValueError):
        return None


def run_experiment(name: str | Experiment, *, preset: str = "quick", out: Path | str | None = None,
                   seeds: int | None = None, device: str = "auto", resume: bool = False, redo: bool = False,
                   data: str | None = None, weights: Path | str | None = None, sets: Sequence[str] = (),
                   draw: Draw | None = None) -> dict:
    """Run one experiment into ``out/<name>/`` and return its results (also written to results.json).

    ``draw`` draws the figures after the units and before results.json, which lists them (relative
    to the folder); without it the run has no figures.

    Finished units of the same identity are reused from their caches; ``resume`` continues a unit
    interrupted mid-training from its checkpoint; ``redo`` deletes the experiment's folder first.
    SIGINT/SIGTERM stop the run between two batches (:class:`fullconv.training.interrupt.Interrupted`).
    """
    plan = plan_run(name, preset=preset, out=out, seeds=seeds, device=device, data=data, weights=weights,
                    sets=sets)
    experiment, config, folder = plan.experiment, plan.config, plan.folder
    dist = init_from_env(plan.device)
    ctx = RunContext(out_dir=folder, device=plan.device, preset=preset, seeds=list(range(config.seeds)), data=data,
                     weights=Path(weights) if weights is not None else None, resume=resume, distributed=dist,
                     identity=plan.identity, identity_id=plan.identity_id)
    # Signals stop the run between two batches; once every unit is done, figures and results.json
    # are still written (seconds), so a complete run is never lost to a late Ctrl-C.
    with interrupt.stop_on_signals(), folder_lock(folder) if dist.is_main else _no_lock():
        if dist.is_main:
            if redo:
                clear_folder(folder)
            _set_aside_other_results(folder, plan.identity_id)
            atomic_write_json(folder / RUN_FILE, {"experiment": experiment.name, "preset": preset,
                                                  "identity": plan.identity_id})
            ctx.claim_units()
            for other, changed in ctx.other_identities().items():
                ctx.log(f"not reusing the units of other settings in units/{other} ({'; '.join(changed)})")
        barrier()
        start = time.perf_counter()
        with deterministic(plan.device.type == "cpu"):  # and nothing the run sets outlives it
            rows = experiment.run(config, ctx)
        results = build_results(experiment, preset, config_dict(config), list(rows), plan.device,
                                time.perf_counter() - start)
        results["identity"] = plan.identity_id
        results["units"] = ctx.units_dir.relative_to(folder).as_posix()
        if dist.is_main:
            if draw is not None:
                results["figures"] = [str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p)
                                      for p in map(Path, draw(experiment.name, results, folder))]
            write_results(folder, results)  # the last write: results.json marks the run complete
    return results


def _set_aside_other_results(folder: Path, identity: str) -> None:
    """Move results.json of other settings to its own units folder, so results.json always means this run, complete."""
    path = folder / RESULTS
    if path.exists() and not has_results(folder, identity):
        try:
            theirs = json.loads(path.read_text()).get("identity") or "unknown"
        except ValueError:
            theirs = "unknown"
        target = folder / "units" / theirs / RESULTS
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


@contextmanager
def _no_lock() -> Iterator[None]:
    yield
