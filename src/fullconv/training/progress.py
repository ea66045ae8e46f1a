"""Progress bars: tqdm on a terminal, silent in logs and CI (stderr not a TTY) and on ranks other than 0."""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

from .distributed import is_main

T = TypeVar("T")


def progress_enabled() -> bool:
    """True on a terminal; ``FULLCONV_PROGRESS=1`` forces bars on, ``=0`` off."""
    forced = os.environ.get("FULLCONV_PROGRESS")
    if forced is not None:
        return forced not in ("0", "", "false")
    return sys.stderr.isatty() and is_main()


def progress(iterable: Iterable[T] | None = None, *, desc: str | None = None, total: int | None = None,
             leave: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, ...)`` that draws only when :func:`progress_enabled`."""
    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=not progress_enabled(),
                dynamic_ncols=True, **kwargs)
