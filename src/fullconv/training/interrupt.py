"""Stopping on SIGINT / SIGTERM at the next safe point: between two batches, or before a unit starts.

Inside :func:`stop_on_signals` the first signal only records a request; :func:`check` (called by
the training loop after every batch and by the unit cache before every unit) then raises
:class:`Interrupted`. The last checkpoint written is an epoch boundary, so ``--resume`` continues
from it with the same numbers as an uninterrupted run. A second signal interrupts at once.

Worker processes (red-green trains borders in a process pool) share the request through a
``multiprocessing`` event: :func:`shared_event` gives the parent's, :func:`worker_init` installs it
in a worker.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
ADVICE = "run the same command again with --resume to continue from the last checkpoints"

_requested: int | None = None
_event = None  # a multiprocessing.Event shared with worker processes, if any


class Interrupted(KeyboardInterrupt):
    """Raised at a safe point after SIGINT/SIGTERM; finished units and the last checkpoints are on disk."""

    def __init__(self, message: str = f"interrupted; {ADVICE}") -> None:
        super().__init__(message)


def requested() -> bool:
    """Whether a stop was asked for (in this process, or in the parent of a worker)."""
    return _requested is not None or (_event is not None and _event.is_set())


def check() -> None:
    """Raise :class:`Interrupted` when a stop was asked for."""
    if requested():
        raise Interrupted()


def _handle(signum, frame) -> None:
    global _requested
    if _requested is not None:
        raise KeyboardInterrupt(f"interrupted again; {ADVICE}")
    _requested = signum
    if _event is not None:
        _event.set()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into stop requests inside the block (main thread only; elsewhere a no-op).

    Nested blocks share the outer block's requests, so a stop asked for during one run of
    ``reproduce`` also keeps the next one from starting.
    """
    global _requested
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is _handle:
        yield
        return
    before = {s: signal.getsignal(s) for s in SIGNALS}
    _requested = None
    if _event is not None:
        _event.clear()
    for s in SIGNALS:
        signal.signal(s, _handle)
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def shared_event(context):
    """An event of ``context`` (a multiprocessing context) that a stop request of this process sets."""
    global _event
    if _event is None:
        _event = context.Event()
    if _requested is not None:
        _event.set()
    return _event


def worker_init(event) -> None:
    """Process-pool initializer: follow the parent's stop requests; a worker's own signals request a stop too."""
    global _event, _requested
    _event, _requested = event, None
    for s in SIGNALS:
        signal.signal(s, _handle)
