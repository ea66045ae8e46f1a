import pytest
import torch

from fullconv.datasets.subsets import ALL, nested_subsets

LABELS = torch.arange(300) % 3 + 10 * (torch.arange(300) % 7 == 0)  # uneven classes: 0,1,2,10,11,12


def drawn(seed=0):
    return nested_subsets(LABELS, (1, 4, 9, ALL), seed, val_per_class=3)


def test_per_class_counts():
    subsets = drawn().subsets
    classes = torch.unique(LABELS)
    for n in (1, 4, 9):
        counts = torch.bincount(LABELS[subsets[n]], minlength=13)[classes]
        assert counts.tolist() == [n] * len(classes)
    # the whole pool: every image but the validation ones
    assert subsets[ALL].numel() == LABELS.numel() - 3 * len(classes)


def test_nested():
    subsets = drawn().subsets
    for small, large in ((1, 4), (4, 9), (9, ALL)):
        assert set(subsets[small].tolist()) < set(subsets[large].tolist())


def test_disjoint_from_validation():
    result = drawn()
    validation = set(result.validation.tolist())
    assert len(validation) == 3 * len(torch.unique(LABELS))
    assert not validation & set(result.subsets[ALL].tolist())


def test_deterministic_and_seeded():
    assert drawn(0).to_json() == drawn(0).to_json()
    assert drawn(0).subsets[4].tolist() != drawn(1).subsets[4].tolist()


def test_subset_sizes_do_not_change_the_draw():
    alone = nested_subsets(LABELS, (4,), 0, val_per_class=3)
    assert torch.equal(alone.subsets[4], drawn().subsets[4])
    assert torch.equal(alone.validation, drawn().validation)


def test_exception():
    with pytest.raises(ValueError, match="class 10 has"):
        nested_subsets(LABELS, (60,), 0)
    with pytest.raises(ValueError, match="per_class must be positive"):
        nested_subsets(LABELS, (-1,), 0)
