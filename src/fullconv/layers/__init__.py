"""Border-handling layers: padding functions, convolutions, pooling, blur-pool and branch alignment."""
from .borders import BORDERS, FULL_BORDERS, SAME_BORDERS, Border, BorderName, get_border
from .align import align
from .blurpool import BlurPool, blur_downsample, blur_filter
from .conv import (BORDER_CONV, BORDER_CONV_TRANSPOSE, BorderConv1d, BorderConv2d, BorderConv3d,
                   BorderConvTranspose1d, BorderConvTranspose2d, BorderConvTranspose3d, BorderStdConv2d)
from .grid import Grid
from .pool import BorderPool
from .space_to_depth import SpaceToDepth
from .polyphase import polyphase_downsample, select_phase
from .padding import (background_frame, corner_background, full_phase_left, pad_constant, pad_periodic,
                      valid_phase_left)

__all__ = [
    "BORDERS", "FULL_BORDERS", "SAME_BORDERS", "Border", "BorderName", "get_border",
    "BORDER_CONV", "BorderConv1d", "BorderConv2d", "BorderConv3d", "BorderStdConv2d",
    "BORDER_CONV_TRANSPOSE", "BorderConvTranspose1d", "BorderConvTranspose2d", "BorderConvTranspose3d",
    "background_frame", "corner_background", "full_phase_left", "pad_constant", "pad_periodic", "valid_phase_left",
    "BorderPool", "Grid", "SpaceToDepth", "align", "BlurPool", "blur_downsample", "blur_filter", "polyphase_downsample", "select_phase",
]
