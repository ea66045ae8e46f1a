"""fullconv: border handling of convolutions (valid, same, full, full-exact) for PyTorch models."""
from .convert import ConversionError, convert
from .layers import BORDERS, check_border
from . import metrics
from .metrics import check_equivariance

__version__ = "0.1.0"

__all__ = ["BORDERS", "ConversionError", "check_border", "check_equivariance", "convert", "metrics", "__version__"]
