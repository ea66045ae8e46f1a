"""Summaries (mean, sample std, n per variant), results.json contents and unit caching of RunContext."""
import json
import math
import statistics

import pytest
import torch

from fullconv.experiments import Experiment, ExperimentConfig, RunContext
from fullconv.experiments.results import build_results, read_results, summarize, write_results


def test_summary_groups_rows_and_matches_statistics():
    rows = [{"border": "same", "seed": s, "acc": a} for s, a in enumerate([90.0, 92.0, 97.0])]
    rows += [{"border": "full", "seed": 0, "acc": 80.0, "other": None}]
    summary = summarize(rows, ("border",), ("acc", "other"))
    assert [s["border"] for s in summary] == ["same", "full"]
    assert summary[0]["acc_mean"] == pytest.approx(statistics.mean([90, 92, 97]))
    assert summary[0]["acc_std"] == pytest.approx(statistics.stdev([90, 92, 97]))
    assert summary[0]["n"] == 3 and summary[1]["acc_std"] == 0.0
    assert summary[1]["other_mean"] is None


def test_summary_groups_by_several_keys():
    rows = [{"arch": a, "frame": f, "acc": float(f)} for a in ("r18", "bag") for f in (0, 16) for _ in range(2)]
    summary = summarize(rows, ("arch", "frame"), ("acc",))
    assert [(s["arch"], s["frame"], s["n"]) for s in summary] == [("r18", 0, 2), ("r18", 16, 2), ("bag", 0, 2),
                                                                  ("bag", 16, 2)]


def test_results_document_round_trips(tmp_path):
    experiment = Experiment(name="e", summary="", config_cls=ExperimentConfig, presets={"paper": {}}, run=len,
                            metrics=("acc",), paper={"same": 1}, check=lambda s: (s[0]["acc_mean"] > 50, "above"))
    rows = [{"border": "same", "seed": 0, "acc": torch.tensor(75.0).item()}]
    results = build_results(experiment, "quick", {"seeds": 1}, rows, "cpu", 1.5)
    assert results["pattern"] == {"reproduced": True, "detail": "above"}
    write_results(tmp_path, results)
    assert read_results(tmp_path) == json.loads(json.dumps(results))
    with pytest.raises(FileNotFoundError, match="no results in"):
        read_results(tmp_path / "missing")


def test_unit_caches_its_rows(tmp_path):
    ctx = RunContext(out_dir=tmp_path, device=torch.device("cpu"), preset="ci", seeds=[0])
    calls = []

    def unit(folder):
        calls.append(folder)
        return {"border": "same", "acc": math.pi, "shape": (2, 3)}
    first = ctx.unit("same/seed0", unit)
    second = ctx.unit("same/seed0", unit)
    assert first == second == {"border": "same", "acc": math.pi, "shape": [2, 3]}
    assert calls == [tmp_path / "units" / "same" / "seed0"]
    with pytest.raises(ValueError, match="unit key"):
        ctx.unit("../escape", unit)


def test_effects_give_the_verdict_and_keep_reproduced_boolean():
    from fullconv.experiments.stats import by_seed, paired_effect

    def effects(rows):
        same = by_seed(rows, "acc", border="same")
        return [paired_effect("acc", "full − same", by_seed(rows, "acc", border="full"), same),
                paired_effect("acc", "valid − same", by_seed(rows, "acc", border="valid"), same)]  # no rows: None

    experiment = Experiment(name="e", summary="", config_cls=ExperimentConfig, presets={"paper": {}}, run=len,
                            metrics=("acc",), effects=effects)
    rows = [{"border": b, "seed": s, "acc": a + (1.0 + 0.1 * s if b == "full" else 0.0)}
            for s, a in enumerate([70.0, 75.0, 72.0]) for b in ("same", "full")]
    pattern = build_results(experiment, "quick", {}, rows, "cpu", 0.0)["pattern"]
    assert pattern["verdict"] == "reproduced" and pattern["reproduced"] is True
    [effect] = pattern["effects"]
    assert effect["n_seeds"] == 3 and effect["mean_diff"] == pytest.approx(1.1) and effect["ci95"][0] > 0
    # Full behind same on every seed: contradicted, and reproduced is False.
    flipped = [{**r, "acc": -r["acc"]} for r in rows]
    pattern = build_results(experiment, "quick", {}, flipped, "cpu", 0.0)["pattern"]
    assert pattern["verdict"] == "contradicted" and pattern["reproduced"] is False
