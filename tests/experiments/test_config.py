"""--set parsing against the config's field types, and presets."""
from dataclasses import dataclass
from typing import Literal

import pytest

from fullconv.experiments import ExperimentConfig
from fullconv.experiments.config import apply_preset, config_dict, parse_sets


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
    ("mode=time", "--set mode=time: choose one of: spatial, spacetime"),
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
