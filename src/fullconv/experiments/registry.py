"""The experiment registry: every module of ``fullconv.experiments`` that defines ``EXPERIMENT`` is one.

Adding an experiment is adding a module; nothing else is edited.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

#: The paper's order of experiments; others follow in registration order.
ORDER = ("rook", "conv-types", "red-green", "quadrant", "shift", "data-efficiency", "patch-matching", "action")

#: Modules of the package that are the framework, not experiments.
FRAMEWORK = frozenset({"config", "context", "identity", "registry", "results", "runner", "stats"})


@dataclass(frozen=True)
class Experiment:
    """One paper experiment: its config, presets, how to run it and what the paper found.

    ``run(cfg, ctx) -> rows``; ``check(summary) -> (reproduced, one-line detail)``;
    ``effects(rows) -> [effect]``: the paper's claims as paired differences over seeds
    (:func:`fullconv.experiments.stats.paired_effect`), which then give the verdict instead of ``check``.
    ``takes_data(cfg)`` / ``takes_weights(cfg)``: whether a run with ``cfg`` reads ``--data`` /
    ``--weights`` (None: never; a run given one it would ignore is refused); ``inputs_hint`` says
    which settings do read them. ``validate(cfg, ctx)`` raises a ValueError for inputs that cannot
    work (e.g. weights of another architecture); the runner calls it before anything is written.
    ``report`` names the module that draws its figures (``figures(results, folder) -> paths``) and
    its report.html section (``section(results) -> html``), by name only: experiments import no
    report code. ``group_by``, ``metrics`` and :data:`ORDER` also lay out its part of report.html.
    """

    name: str
    summary: str
    config_cls: type
    presets: Mapping[str, Mapping[str, Any]]
    run: Callable
    group_by: tuple[str, ...] = ("border",)
    metrics: tuple[str, ...] = ()
    paper: Any = None
    check: Callable | None = None
    effects: Callable | None = None
    title: str = ""
    takes_data: Callable[[Any], bool] | None = None
    takes_weights: Callable[[Any], bool] | None = None
    inputs_hint: str = ""
    validate: Callable[[Any, Any], None] | None = None
    report: str = ""
    module: str = field(default="", compare=False)

    @property
    def display_title(self) -> str:
        return self.title or self.name


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` under its name; a module reloaded re-registers, two modules may not share a name."""
    module = getattr(experiment.run, "__module__", "")
    known = _REGISTRY.get(experiment.name)
    if known is not None and known.module != module:
        raise ValueError(f"experiment name {experiment.name!r} is registered twice ({known.module} and {module})")
    experiment = Experiment(**{**experiment.__dict__, "module": module})
    _REGISTRY[experiment.name] = experiment
    return experiment


def unregister(name: str) -> None:
    """Remove ``name`` (for tests that register a throwaway experiment)."""
    _REGISTRY.pop(name, None)


def discover() -> None:
    """Import every experiment module of the package (once)."""
    package = importlib.import_module("fullconv.experiments")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in FRAMEWORK or info.name.startswith("_"):
            continue
        importlib.import_module(f"fullconv.experiments.{info.name}")


def all_experiments() -> list[Experiment]:
    """Every registered experiment, after discovery, in registration order."""
    discover()
    return list(_REGISTRY.values())


def get(name: str) -> Experiment:
    """The experiment called ``name``, or a ValueError listing the known ones."""
    discover()
    if name not in _REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; choose one of: {', '.join(sorted(_REGISTRY)) or '(none)'}")
    return _REGISTRY[name]


def ordered(experiments: list[Experiment]) -> list[Experiment]:
    """Experiments in the paper's order (:data:`ORDER`), the others after them in the given order."""
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(experiments, key=lambda e: rank.get(e.name, len(ORDER)))
