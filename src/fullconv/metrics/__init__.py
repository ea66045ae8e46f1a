"""Metrics: translation equivariance (and its certificate), shift consistency and diagonal accuracy, FPR95.

Every metric is a function that returns numbers (or, for the certificate, a dataclass of them);
none prints or plots.
"""
from .certificate import EquivarianceCertificate, ShiftCheck, check_equivariance
from .equivariance import canvas_shift_error, feature_equivariance_error, place_on_canvas, relative_difference
from .retrieval import fpr95
from .shift import canvas_consistency, consistency, diagonal_accuracy

__all__ = ["EquivarianceCertificate", "ShiftCheck", "canvas_consistency", "canvas_shift_error", "check_equivariance",
           "consistency", "diagonal_accuracy", "feature_equivariance_error", "fpr95", "place_on_canvas", "relative_difference"]
