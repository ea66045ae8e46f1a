import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fullconv.metrics.retrieval import fpr95


def brute_force_fpr95(distances, labels, recall=0.95):
    """Try every threshold; keep the smallest that accepts ``recall`` of the matches."""
    distances, labels = np.asarray(distances, float), np.asarray(labels, bool)
    for threshold in np.unique(distances):
        accepted = distances <= threshold
        if accepted[labels].sum() >= recall * labels.sum() - 1e-9:
            return accepted[~labels].sum() / (~labels).sum()
    raise AssertionError("unreachable: the largest threshold accepts everything")


def hardnet_fpr95(distances, labels):
    """ErrorRateAt95Recall of the HardNet code (valid when no two distances tie)."""
    labels = np.asarray(labels)[np.argsort(distances)]
    index = np.argmax(np.cumsum(labels) >= 0.95 * np.sum(labels))
    false_pos = np.sum(labels[:index] == 0)
    true_neg = np.sum(labels[index:] == 0)
    return false_pos / (false_pos + true_neg)


def test_hand_worked_example():
    # matches at 0.1, 0.3, 0.5, 0.7; non-matches at 0.2, 0.4, 0.6, 0.8, 0.9.
    # 95 % of 4 matches needs all 4: threshold 0.7 accepts the non-matches 0.2, 0.4, 0.6 -> 3/5.
    distances = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    labels = [1, 0, 1, 0, 1, 0, 1, 0, 0]
    assert fpr95(distances, labels) == pytest.approx(3 / 5)
    # 50 % recall needs 2 matches: threshold 0.3 accepts only the non-match 0.2 -> 1/5.
    assert fpr95(distances, labels, recall=0.5) == pytest.approx(1 / 5)
    # the same pairs as similarities (larger = more alike) give the same rate
    assert fpr95([-d for d in distances], labels, similarity=True) == pytest.approx(3 / 5)


def test_twenty_matches_allow_one_miss():
    # 95 % of 20 matches is 19: the match at distance 100 may be missed, so no non-match is accepted
    distances = list(range(19)) + [100.0] + [50.0] * 10
    labels = [1] * 20 + [0] * 10
    assert fpr95(distances, labels) == 0.0


def test_ties_with_the_threshold_are_accepted():
    assert fpr95(torch.tensor([1.0, 1.0, 2.0]), torch.tensor([1, 0, 0])) == 0.5


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=2, max_size=60),
       st.floats(0.05, 1.0))
def test_agrees_with_brute_force(pairs, recall):
    distances = [d / 7 for d, _ in pairs]
    labels = [int(m) for _, m in pairs]
    if 0 < sum(labels) < len(labels):
        assert fpr95(distances, labels, recall=recall) == pytest.approx(
            brute_force_fpr95(distances, labels, recall))


def test_agrees_with_hardnet_code_without_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 1000)
    distances = rng.normal(size=1000) - labels
    assert fpr95(distances, labels) == pytest.approx(hardnet_fpr95(distances, labels))


@pytest.mark.parametrize("distances, labels, message", [
    ([0.1, 0.2], [1], "one label per distance"),
    ([0.1, 0.2], [1, 1], "non-matching"),
    ([0.1, 0.2], [1, 2], "must be 0"),
])
def test_exception(distances, labels, message):
    with pytest.raises(ValueError, match=message):
        fpr95(distances, labels)
