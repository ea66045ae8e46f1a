"""Writing figures: the one atomic PNG writer every report module uses."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..utils.io import atomic_write_bytes  # noqa: E402


def save_figure(fig: plt.Figure, path: Path | str, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` atomically (rendered in memory, then written by ``atomic_write_bytes``) and close it."""
    path = Path(path)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=path.suffix.lstrip(".") or None, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
