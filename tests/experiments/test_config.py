"""--set parsing against the config's field types, and presets."""
from dataclasses import dataclass
from typing import Literal

import pytest

from fullconv.experiments import ExperimentConfig
from fullconv.experiments.config import apply_preset, config_dict, parse_sets
from fullconv.layers import BorderName
from fullconv.training import TrainConfig


@dataclass(frozen=True)
class Config(ExperimentConfig):
    seeds: int = 10
    lr: float = 1.0
    amp: bool = True
    border: str = "same"
    borders: tuple[str, ...] = ("valid", "same")
    sizes: tuple[int, ...] = (10, 25)
    crop: tuple[int, int] = (32, 32)
    limit: int | None = None
    mode: Literal["spatial", "spacetime"] = "spatial"


def test_values_take_the_field_types():
    sets = ["seeds=3", "lr=1e-3", "amp=false", "border=full", "borders=full,full-exact", "sizes=1, 2,3",
            "crop=28,30", "limit=none", "mode=spacetime"]
    assert parse_sets(Config, sets) == {"seeds": 3, "lr": 1e-3, "amp": False, "border": "full",
                                        "borders": ("full", "full-exact"), "sizes": (1, 2, 3), "crop": (28, 30),
                                        "limit": None, "mode": "spacetime"}
    assert parse_sets(Config, ["limit=7", "lr=2", "amp=YES", "borders="]) == {"limit": 7, "lr": 2.0, "amp": True,
                                                                              "borders": ()}
    assert isinstance(parse_sets(Config, ["lr=2"])["lr"], float)


@pytest.mark.parametrize("item, message", [
    ("seeds=2.5", "--set seeds=2.5: expected int"),
    ("lr=fast", "--set lr=fast: expected float"),
    ("amp=2", "--set amp=2: expected a bool"),
    ("crop=1,2,3", "--set crop=1,2,3: expected 2 comma-separated values"),
    ("sizes=1,x", "--set sizes=1,x: item .x.: expected int"),
    ("mode=time", "--set mode: unknown mode 'time'; choose one of: spatial, spacetime"),
    ("nope=1", "--set nope: unknown key; choose one of: seeds, lr"),
    ("seeds", "expected key=value"),
])
def test_bad_values_name_the_field_and_the_expected_type(item, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_sets(Config, [item])


def test_presets_override_defaults_and_sets_override_presets():
    presets = {"paper": {}, "quick": {"seeds": 2, "sizes": (5,)}}
    assert apply_preset(Config, presets, "paper") == Config()
    quick = apply_preset(Config, presets, "quick", {"seeds": 4})
    assert (quick.seeds, quick.sizes, quick.lr) == (4, (5,), 1.0)
    with pytest.raises(ValueError, match="unknown preset 'fast'; choose one of: paper, quick"):
        apply_preset(Config, presets, "fast")
    with pytest.raises(ValueError, match="preset 'bad' sets unknown fields colour"):
        apply_preset(Config, {"bad": {"colour": 1}}, "bad")


def test_config_dict_is_json_ready():
    assert config_dict(Config())["borders"] == ["valid", "same"]


def test_every_set_key_of_every_experiment_has_a_meaning():
    """`fullconv run NAME --help` gives a one-line meaning for every --set key of every experiment."""
    from fullconv.experiments.config import field_help
    from fullconv.experiments.registry import all_experiments

    missing = {e.name: [key for key, meaning in field_help(e.config_cls).items() if not meaning]
               for e in all_experiments()}
    assert not {name: keys for name, keys in missing.items() if keys}


@dataclass(frozen=True)
class Trained(ExperimentConfig):
    borders: tuple[BorderName, ...] = ("same", "full")
    train: TrainConfig = TrainConfig(epochs=5, batch_size=8, optimizer="adadelta", lr=1.0)  # the protocol's training


def test_training_fields_nest_under_train_with_flat_aliases():
    assert parse_sets(Trained, ["train.lr=0.5", "epochs=3"]) == {"train.lr": 0.5, "epochs": 3}
    cfg = apply_preset(Trained, {"p": {"train.batch_size": 4, "early_stopping": 2}}, "p",
                       parse_sets(Trained, ["lr=0.5"]))
    assert cfg.train == TrainConfig(epochs=5, batch_size=4, optimizer="adadelta", lr=0.5, early_stopping=2)
    assert config_dict(cfg)["train"]["batch_size"] == 4 and "lr" not in config_dict(cfg)
    assert apply_preset(Trained, {"p": {}}, "p").train is Trained().train  # untouched groups keep their default


@pytest.mark.parametrize("sets, message", [
    (["train.nope=1"], "--set train.nope: unknown key; choose one of: seeds, borders, train.epochs"),
    (["train.epochs=0"], "--set train.epochs=0: must be at least 1"),
    (["epochs=0"], "--set epochs=0: must be at least 1"),
    (["train.lr=-1"], "--set train.lr=-1.0: must be a finite positive number"),
    (["train.optimizer=sgdd"], "unknown optimizer 'sgdd'; choose one of: sgd, adadelta"),
    (["borders=same,ful"], "--set borders: unknown border 'ful'; choose one of: valid, same"),
])
def test_bad_training_values_fail_at_config_build(sets, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        apply_preset(Trained, {"p": {}}, "p", parse_sets(Trained, sets))


def test_a_preset_with_a_misspelt_border_fails_at_build():
    with pytest.raises(ValueError, match="--set borders: unknown border 'fulll'"):
        apply_preset(Trained, {"p": {"borders": ("same", "fulll")}}, "p")


def test_help_lists_the_nested_keys_with_the_protocol_defaults():
    from fullconv.experiments.config import config_help
    text = config_help(Trained, {"p": {"train.lr": 0.1}})
    assert "p          train.lr=0.1" in text
    lines = {line.split()[0]: line for line in text.splitlines()[2:]}
    assert lines["train.optimizer"].split()[1:3] == ["str", "adadelta"]
    assert lines["borders"].split()[1] == "tuple[str," and "sgd | adadelta" in lines["train.optimizer"]
