"""The registry discovers every experiment module of the package; names are unique; unknown names list the known."""
import pkgutil

import pytest

import fullconv.experiments as package
from fullconv.experiments import Experiment, ExperimentConfig, all_experiments, get, register
from fullconv.experiments.registry import FRAMEWORK, ORDER, ordered, unregister


def _run(cfg, ctx):
    return []


def test_every_module_that_defines_an_experiment_is_registered():
    names = {e.name for e in all_experiments()}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in FRAMEWORK:
            continue
        module = __import__(f"fullconv.experiments.{info.name}", fromlist=["EXPERIMENT"])
        if hasattr(module, "EXPERIMENT"):
            assert module.EXPERIMENT.name in names
            assert get(module.EXPERIMENT.name) is not None
            experiment = module.EXPERIMENT
            assert "paper" in experiment.presets and experiment.summary
            assert issubclass(experiment.config_cls, ExperimentConfig)


def test_register_get_and_duplicate_names():
    experiment = register(Experiment(name="dummy-registry", summary="s", config_cls=ExperimentConfig,
                                     presets={"paper": {}}, run=_run))
    try:
        assert get("dummy-registry") is experiment and experiment.module == __name__
        assert register(experiment) == experiment  # the same module may register again (reload)
        other = Experiment(name="dummy-registry", summary="s", config_cls=ExperimentConfig, presets={},
                           run=len)
        with pytest.raises(ValueError, match="registered twice"):
            register(other)
    finally:
        unregister("dummy-registry")
    with pytest.raises(ValueError, match="unknown experiment 'dummy-registry'; choose one of"):
        get("dummy-registry")


def test_paper_order_first_then_the_rest():
    def exp(name):
        return Experiment(name=name, summary="", config_cls=ExperimentConfig, presets={}, run=_run)
    names = [e.name for e in ordered([exp("zeta"), exp("action"), exp("rook"), exp("red-green")])]
    assert names == ["rook", "red-green", "action", "zeta"]
    assert ORDER[0] == "rook"


def test_every_experiment_has_the_same_preset_names():
    """One name for the CI preset everywhere: paper (the protocol), quick (CPU-sized), ci (the tests)."""
    assert {e.name: tuple(e.presets) for e in all_experiments()} == {
        e.name: ("paper", "quick", "ci") for e in all_experiments()}

