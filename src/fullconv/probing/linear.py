"""A small deterministic linear probe: ridge classification on frozen features, and Wilson intervals."""
from __future__ import annotations

import math

import torch
from torch import Tensor

#: ridge penalties tried, in units of the mean eigenvalue of the training Gram matrix
PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def ridge_classifier(train_x: Tensor, train_y: Tensor, penalties=PENALTIES):
    """Fit a two-class ridge classifier (labels 0/1 as -1/+1), penalty chosen by leave-one-out error.

    Features are standardised with the training mean and standard deviation; the fit is in float64
    and in dual form (``n`` samples, ``D`` features, ``n ≪ D``), so it costs ``O(n² D + n³)``.

    Args:
        train_x: (n, D) features.
        train_y: (n,) labels 0 or 1.

    Returns:
        ``predict(x: (m, D)) -> (m,) int64`` labels; equal features give equal labels.

    Example:
        >>> x = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
        >>> ridge_classifier(x, torch.tensor([0, 1, 0, 1]))(x).tolist()
        [0, 1, 0, 1]
    """
    x = train_x.double()
    mean = x.mean(0)
    std = x.std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    z = (x - mean) / std
    target = train_y.double() * 2 - 1
    offset = target.mean()
    target = target - offset
    gram = z @ z.T
    values, vectors = torch.linalg.eigh(gram)
    values = values.clamp(min=0)
    scale = max(values.mean().item(), 1e-12)
    projected = vectors.T @ target
    best = None
    for penalty in penalties:
        lam = penalty * scale
        shrink = values / (values + lam)
        fitted = vectors @ (shrink * projected)
        leverage = (vectors ** 2 @ shrink).clamp(max=1 - 1e-9)
        loo = (((target - fitted) / (1 - leverage)) ** 2).mean().item()
        if best is None or loo < best[0] - 1e-12:
            best = (loo, lam)
    dual = vectors @ (projected / (values + best[1]))
    weight = z.T @ dual

    def predict(features: Tensor) -> Tensor:
        score = ((features.double() - mean) / std) @ weight + offset
        return (score > 0).long()

    return predict


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of a binomial proportion.

    Example:
        >>> [round(v, 3) for v in wilson_interval(45, 50)]
        [0.786, 0.957]
    """
    if trials <= 0:
        raise ValueError("wilson_interval needs at least one trial")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
