"""Retrieval metrics of descriptor matching: FPR95 (Brown et al. 2011; HardNet's benchmark)."""
from __future__ import annotations

import numpy as np
import torch



def fpr95(distances, labels, *, similarity: bool = False, recall: float = 0.95) -> float:
    """False positive rate at the smallest threshold that accepts ``recall`` of the matching pairs.

    A pair is accepted when its distance is at most the threshold; pairs tied with the threshold
    are all accepted, so ties never flatter the result.

    Args:
        distances: (N,) distance of each pair (smaller = more alike), or a similarity score when
            ``similarity=True`` (larger = more alike).
        labels: (N,) 1 (or True) for a matching pair, 0 for a non-matching one.
        similarity: read ``distances`` as scores.
        recall: the fraction of matching pairs that must be accepted (0 < recall <= 1).

    Returns:
        accepted non-matching pairs / all non-matching pairs, a fraction in [0, 1].

    Example:
        >>> fpr95([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0])
        0.5
    """
    values = np.asarray(torch.as_tensor(distances).detach().cpu(), dtype=np.float64).reshape(-1)
    matches = np.asarray(torch.as_tensor(labels).detach().cpu()).reshape(-1)
    if values.shape != matches.shape:
        raise ValueError(f"fpr95 needs one label per distance; got {values.size} distances and "
                         f"{matches.size} labels")
    if not np.isin(matches, (0, 1)).all():
        raise ValueError("fpr95 labels must be 0 (non-matching) or 1 (matching)")
    if not 0.0 < recall <= 1.0:
        raise ValueError(f"recall must lie in (0, 1]; got {recall}")
    matches = matches.astype(bool)
    n_pos, n_neg = int(matches.sum()), int((~matches).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"fpr95 needs matching and non-matching pairs; got {n_pos} matching and "
                         f"{n_neg} non-matching")
    if similarity:
        values = -values
    positives = np.sort(values[matches])
    # the k-th smallest positive distance is the first threshold accepting k positives
    needed = int(np.ceil(recall * n_pos - 1e-9))
    threshold = positives[needed - 1]
    return float(np.count_nonzero(values[~matches] <= threshold) / n_neg)
