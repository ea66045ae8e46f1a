"""Writing figures: the one atomic PNG writer every report module uses."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: plt.Figure, path: Path | str, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` atomically (temporary file in the same folder, then rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    try:
        fig.savefig(partial, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    os.replace(partial, path)
    return path
