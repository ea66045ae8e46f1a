"""``fullconv.probing``: how much a CNN exploits absolute position, and what a border variant changes.

    >>> import torchvision, fullconv
    >>> result = fullconv.probe(torchvision.models.resnet18(), out="probe-resnet18")  # doctest: +SKIP
    >>> result.save("probe-resnet18")  # doctest: +SKIP
"""
from .core import Geometry, ProbeConfig, ProbeResult, probe
from .linear import ridge_classifier, wilson_interval
from .load import load_model, load_weights
from .reach import LayerReach, border_reach

__all__ = ["Geometry", "LayerReach", "ProbeConfig", "ProbeResult", "border_reach", "load_model", "load_weights",
           "probe", "ridge_classifier", "wilson_interval"]
