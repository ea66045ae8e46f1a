"""`fullconv probe`: a user's module:factory on a folder of images end to end, and one-line errors (exit 2)."""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from fullconv.cli import main

FACTORY = '''
import torch.nn as nn

def make():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
'''
SETS = ["--set", "item=8", "--set", "train_items=4", "--set", "test_items=4", "--set", "shift_items=2",
        "--set", "frames=0,4"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "probe_user_net.py").write_text(FACTORY)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(images / f"{i}.png")
    return tmp_path


def test_probe_a_factory_model_on_a_folder(project, capsys):
    assert main(["probe", "probe_user_net:make", "--data", f"folder:{project / 'images'}", "--out", "card"]
                + SETS) == 0
    result = json.loads((project / "card" / "probe.json").read_text())
    assert result["name"] == "probe_user_net:make" and result["border"] == "full-exact"
    assert result["config"]["frames"] == [0, 4] and result["decodability"]["converted"]["chance_everywhere"]
    assert (project / "card" / "probe.html").exists() and result["verdict"] in capsys.readouterr().out


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fullconv: error: ")
    return lines[0]


def test_factory_that_does_not_exist_is_one_line(project, capsys):
    assert main(["probe", "probe_user_net:missing", "--out", "card"]) == 2
    assert "has no callable 'missing'" in _error(capsys)


def test_unknown_model_is_one_line(project, capsys):
    assert main(["probe", "resnet_does_not_exist", "--out", "card"]) == 2
    assert "unknown model 'resnet_does_not_exist'" in _error(capsys)
    assert not (project / "card").exists()


def test_weights_of_another_architecture_is_one_line(project, capsys):
    torch.save(nn.Linear(3, 3).state_dict(), project / "wrong.pt")
    assert main(["probe", "probe_user_net:make", "--weights", "wrong.pt", "--out", "card"]) == 2
    assert "do not fit probe_user_net:make" in _error(capsys)
    assert not (project / "card").exists()


def test_folder_without_images_is_one_line(project, capsys):
    (project / "empty").mkdir()
    assert main(["probe", "probe_user_net:make", "--data", "folder:empty", "--out", "card"] + SETS) == 2
    assert "no image files" in _error(capsys)
    assert not (project / "card").exists()


def test_a_built_model_is_the_same_every_time():
    from fullconv.probing import load_model
    first, second = load_model("resnet18"), load_model("resnet18")
    assert all(a.equal(b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    state = torch.get_rng_state()
    load_model("resnet18", seed=1)
    assert torch.get_rng_state().equal(state)  # the caller's random stream is untouched
