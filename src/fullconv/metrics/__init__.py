"""Metrics: translation equivariance, shift consistency and diagonal accuracy, FPR95.

Every metric is a function that returns numbers; none prints or plots.
"""
from .equivariance import canvas_shift_error, feature_equivariance_error, place_on_canvas, relative_difference
from .retrieval import fpr95
from .shift import consistency, diagonal_accuracy

__all__ = ["canvas_shift_error", "consistency", "diagonal_accuracy", "feature_equivariance_error", "fpr95",
           "place_on_canvas", "relative_difference"]
