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


#: The benefit experiments have a ``medium`` preset: quick's proxy with the seeds and data that a
#: 95 % interval of about +-1 point needs. Each names the only fields it changes.
MEDIUM = {
    "shift": {"seeds", "n_test", "borders", "polyphase"},
    "data-efficiency": {"seeds", "n_test", "per_class"},
    "action": {"seeds", "train_clips", "val_clips", "train.epochs"},
}


def test_every_experiment_has_the_same_preset_names():
    """One name per preset everywhere: paper (the protocol), quick (CPU-sized), medium (the benefit
    experiments' tighter intervals), ci (the tests)."""
    assert {e.name: tuple(e.presets) for e in all_experiments()} == {
        e.name: ("paper", "quick", "medium", "ci") if e.name in MEDIUM else ("paper", "quick", "ci")
        for e in all_experiments()}


def _flat(config) -> dict:
    from fullconv.experiments.config import config_dict
    out = {}
    for key, value in config_dict(config).items():
        out.update({f"{key}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {key: value})
    return out


@pytest.mark.parametrize("name", sorted(MEDIUM))
def test_medium_is_the_quick_proxy_with_more_seeds_and_data(name):
    from fullconv.experiments.config import apply_preset
    experiment = get(name)
    quick, medium = (_flat(apply_preset(experiment.config_cls, experiment.presets, p)) for p in ("quick", "medium"))
    assert {k for k in quick if quick[k] != medium[k]} == MEDIUM[name]
    assert medium["seeds"] >= max(10, 2 * quick["seeds"])
    for key in MEDIUM[name] - {"borders", "polyphase", "per_class"}:
        assert medium[key] > quick[key], key  # only more of everything that counts
    if name == "data-efficiency":
        assert set(quick["per_class"]) < set(medium["per_class"])
    if name == "shift":  # same and full, with and without BlurPool: the paper's four variants
        assert medium["borders"] == ["same", "full"] and medium["blurpool"] == [False, True]

