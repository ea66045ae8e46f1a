"""Red-green on the CI preset: valid and same read the band, full and full-exact read the colour order."""
from __future__ import annotations

import pytest

from fullconv.experiments.red_green import EXPERIMENT, check_pattern
from fullconv.experiments.runner import run_experiment
from fullconv.report import figures_for


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_experiment(EXPERIMENT, preset="ci", out=tmp_path_factory.mktemp("red-green"), draw=figures_for)


def _summary(results, border):
    return next(row for row in results["summary"] if row["border"] == border)


@pytest.mark.parametrize("border", ["valid", "same"])
def test_valid_and_same_fail_on_the_dissimilar_set(results, border):
    row = _summary(results, border)
    assert row["similar_acc_mean"] > 80.0
    assert row["dissimilar_acc_mean"] < 30.0


@pytest.mark.parametrize("border", ["full", "full-exact"])
def test_full_borders_score_alike_on_both_test_sets(results, border):
    row = _summary(results, border)
    assert abs(row["similar_acc_mean"] - row["dissimilar_acc_mean"]) <= 2.0
    assert row["similar_acc_mean"] > 50.0


def test_rows_per_seed_with_their_own_training(results):
    rows = results["rows"]
    assert {(r["border"], r["seed"]) for r in rows} == {(b, s) for b in ("valid", "same", "full", "full-exact")
                                                         for s in (0, 1)}
    full = [r["similar_acc"] for r in rows if r["border"] == "full"]
    assert full[0] != full[1]  # members keep their own initialisation and batch order
    assert all(1 <= r["best_epoch"] <= r["epochs_run"] <= 6 for r in rows)
    assert results["pattern"]["reproduced"] is True
    assert {"red_green_examples.png", "red_green_bars.png"} <= {p.split("/")[-1] for p in results["figures"]}


def test_check_pattern_rejects_a_full_border_that_reads_position():
    summary = [{"border": b, "similar_acc_mean": 99.0, "dissimilar_acc_mean": d}
               for b, d in (("valid", 1.0), ("same", 5.0), ("full", 60.0), ("full-exact", 99.0))]
    assert check_pattern(summary)[0] is False
    summary[2]["dissimilar_acc_mean"] = 98.5
    assert check_pattern(summary)[0] is True


def test_split_protocol_option():
    import torch

    from fullconv.experiments import get
    from fullconv.experiments.red_green import load_splits
    from fullconv.experiments.runner import build_config

    assert build_config(get("red-green"), "paper").split_protocol == "disjoint"  # ours stays the default
    cfg = build_config(get("red-green"), "ci", ["split_protocol=paper"])
    splits = load_splits(cfg)
    assert torch.equal(splits["similar"].x, splits["train"].x[:cfg.n_test])
    with pytest.raises(ValueError, match="unknown split_protocol 'leak'"):
        build_config(get("red-green"), "ci", ["split_protocol=leak"])


def test_one_seed_trains_as_the_first_member_of_a_stack(results, tmp_path):
    # one member is fed unstacked (B, C, H, W) by the loop; it must still train, and give the rows
    # that seed 0 gets inside the two-member stack of the same preset
    single = run_experiment(EXPERIMENT, preset="ci", out=tmp_path, seeds=1,
                            sets=["borders=same,full"])
    rows = {(r["border"], r["seed"]): r for r in results["rows"]}
    assert [(r["border"], r["seed"]) for r in single["rows"]] == [("same", 0), ("full", 0)]
    keys = ("similar_acc", "dissimilar_acc", "best_epoch", "epochs_run")
    for row in single["rows"]:
        stacked = rows[(row["border"], 0)]
        assert {k: row[k] for k in keys} == {k: stacked[k] for k in keys}
