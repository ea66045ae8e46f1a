"""fullconv: border handling of convolutions (valid, same, full, full-exact) for PyTorch models."""
from .convert import ConversionError, convert
from .layers import BORDERS, check_border
from . import metrics

#: Part of every unit's identity: a new version trains new units instead of reusing older ones.
__version__ = "0.2.0"

__all__ = ["BORDERS", "ConversionError", "check_border", "convert", "metrics", "__version__"]
