"""fullconv: border handling of convolutions (valid, same, full, full-exact) for PyTorch models."""
from .convert import ConversionError, convert
from .layers import BORDERS, Border, get_border
from . import metrics
from .metrics import check_equivariance

#: Part of every unit's identity: a new version trains new units instead of reusing older ones.
__version__ = "0.2.0"

__all__ = ["BORDERS", "Border", "ConversionError", "ProbeConfig", "ProbeResult", "check_equivariance", "convert", "get_border",
           "metrics", "probe", "__version__"]

_PROBING = ("probe", "ProbeConfig", "ProbeResult")


def __getattr__(name: str):
    # imported on first use: users of convert() alone need none of the probe's data readers
    if name in _PROBING:
        from . import probing
        return getattr(probing, name)
    raise AttributeError(f"module 'fullconv' has no attribute {name!r}")
