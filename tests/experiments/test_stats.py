"""The t-interval maths against scipy, and verdicts from intervals (including their negative controls)."""
import math

import pytest
from scipy import stats as scipy_stats

from fullconv.experiments.stats import (mean_interval, overall_verdict, paired_effect, t_cdf, t_quantile,
                                        verdict)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 29, 200])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_t_quantile_matches_scipy(p, df):
    assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9, abs=1e-10)
    assert t_quantile(1 - p, df) == pytest.approx(scipy_stats.t.ppf(1 - p, df), rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("t", [-4.0, -1.3, -0.01, 0.0, 0.7, 2.5, 12.0])
def test_t_cdf_matches_scipy(t):
    for df in (1, 3, 10):
        assert t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), abs=1e-12)


def test_interval_matches_scipy_t_interval():
    values = [1.3, -0.2, 2.9, 0.8, 1.1]
    mean, (low, high) = mean_interval(values)
    reference = scipy_stats.t.interval(0.95, len(values) - 1, loc=scipy_stats.tmean(values),
                                       scale=scipy_stats.sem(values))
    assert mean == pytest.approx(sum(values) / 5)
    assert (low, high) == pytest.approx(reference, rel=1e-9)
    assert mean_interval([2.0]) == (2.0, [None, None])


def test_verdicts_follow_the_paper_direction():
    assert verdict([0.2, 1.5]) == "reproduced"
    assert verdict([0.2, 1.5], sign=-1) == "contradicted"
    assert verdict([-1.5, -0.2]) == "contradicted"
    assert verdict([-0.5, 1.5]) == "not resolved"
    assert verdict([None, None]) == "not resolved"


def test_paired_effect_pairs_by_seed_and_overall_verdict():
    full = {0: 81.0, 1: 83.0, 2: 82.0, 3: 99.0}
    same = {0: 80.0, 1: 81.5, 2: 80.0}
    effect = paired_effect("acc", "full − same", full, same)
    assert effect["diffs"] == [1.0, 1.5, 2.0] and effect["n_seeds"] == 3
    assert effect["verdict"] == "reproduced" and effect["ci95"][0] > 0
    noisy = paired_effect("acc", "full − same", {0: 80.0, 1: 85.0, 2: 79.0}, same)
    assert noisy["verdict"] == "not resolved"
    assert overall_verdict([effect, noisy]) == "not resolved"
    assert overall_verdict([effect, {**noisy, "claim": False}]) == "reproduced"
    assert overall_verdict([effect, {**effect, "verdict": "contradicted"}]) == "contradicted"
    assert paired_effect("acc", "x", {5: 1.0}, same) is None
    assert math.isclose(effect["mean_diff"], 1.5)
