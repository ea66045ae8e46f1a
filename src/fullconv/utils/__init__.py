"""Shared plumbing at the bottom of the package: atomic writes, canvas placement, normalisation
constants, torch.distributed queries and reductions.

Everything here imports only the standard library, NumPy and torch, so the library (``layers``,
``convert``, ``models``, ``datasets``, ``metrics``, ``probing``), ``training`` and ``report`` can all
use it without the library depending on training code.
"""
from .canvas import place_each, place_on_canvas
from .constants import IMAGENET_MEAN, IMAGENET_STD, KINETICS_MEAN, KINETICS_STD
from .io import atomic_save, atomic_write_bytes, atomic_write_json, atomic_write_text, to_jsonable

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "KINETICS_MEAN", "KINETICS_STD", "atomic_save", "atomic_write_bytes",
           "atomic_write_json", "atomic_write_text", "place_each", "place_on_canvas", "to_jsonable"]
