"""Rook: `same` separates the two corners on every seed; `full` and `full-exact` cannot (equal logits)."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from fullconv.experiments.rook import TRACE
from fullconv.experiments.context import unit_key
from fullconv.experiments.runner import run_experiment
from fullconv.report import figures_for


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rook")
    return run_experiment("rook", preset="ci", out=out, draw=figures_for), out / "rook"


@pytest.fixture(scope="module")
def results(run):
    return run[0]


def _rows(results, border):
    return [row for row in results["rows"] if row["border"] == border]


def test_same_separates_the_classes_on_all_five_seeds(results):
    rows = _rows(results, "same")
    assert len(rows) == 5
    assert all(row["train_acc"] == 100.0 for row in rows)
    assert all(row["class_logit_gap"] > 0.5 for row in rows)


@pytest.mark.parametrize("border", ["full", "full-exact"])
def test_full_borders_give_identical_logits_for_both_classes(results, border):
    rows = _rows(results, border)
    assert len(rows) == 5
    for row in rows:
        assert row["logits"][0] == row["logits"][1]
        assert row["train_acc"] == 50.0


def test_pattern_and_animation(run):
    results, folder = run
    assert results["pattern"]["reproduced"] is True
    assert sorted(results["figures"]) == ["rook_last_frame.png", "rook_training.gif"]
    with Image.open(folder / "rook_training.gif") as image:
        assert image.n_frames > 10


def test_each_unit_saves_the_whole_training_trace_the_figures_read(run):
    results, folder = run
    for border in ("same", "full", "full-exact"):
        trace = json.loads((folder / results["units"] / unit_key(border=border) / TRACE).read_text())
        assert [r["epoch"] for r in trace] == list(range(1, results["config"]["train"]["epochs"] + 1))
        rows = _rows(results, border)
        assert all(len(r["filter"]) == len(r["acc"]) == len(rows) for r in trace)
        assert all(len(member) == len(member[0]) == 5 for r in trace for member in r["filter"])  # one 5×5 filter
        # the last epoch's snapshot is the trained model the rows measure
        assert trace[-1]["acc"] == [row["train_acc"] for row in rows]
