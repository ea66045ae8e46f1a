"""Convolution types: class 1's response at the border is lost by valid and same, kept by full."""
from __future__ import annotations

import pytest
import torch

from fullconv.experiments.conv_types import EXPERIMENT, block_images, feature_maps, unbounded_peak
from fullconv.experiments.runner import run_experiment
from fullconv.report import figures_for


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_experiment(EXPERIMENT, preset="ci", out=tmp_path_factory.mktemp("conv-types"), draw=figures_for)


@pytest.mark.parametrize("border, kept", [("valid", False), ("same", False), ("full", True)])
def test_class1_kept_only_with_full(results, border, kept):
    row = next(r for r in results["rows"] if r["border"] == border)
    assert row["class1_kept"] is kept
    assert row["class2_kept"] is True


def test_pattern_and_figure(results):
    assert results["pattern"]["reproduced"] is True
    assert results["figures"] == ["conv_types.png"]


def test_full_maps_of_both_classes_are_the_same_up_to_translation():
    maps = feature_maps("full", block_images(8, 3))  # (2, 10, 10)
    assert maps.shape == (2, 10, 10)
    assert torch.equal(maps[0][:5, :5], maps[1][5:, 5:])
    assert maps[0].sum() == maps[1].sum() == unbounded_peak(3)


def test_block_larger_than_image_is_refused():
    with pytest.raises(ValueError, match="larger"):
        block_images(3, 3)
