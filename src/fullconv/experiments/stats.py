"""Paired differences over seeds with 95 % confidence intervals, and the verdict they give.

An effect is ``variant − reference`` of one metric, paired by seed (the two models of a seed share
their initial weights and data). Its interval is the Student-t interval of the mean of the paired
differences, ``mean ± t(0.975, n − 1) · sd / sqrt(n)``, over the n seeds: it assumes the seeds'
differences are independent draws from one normal distribution. One seed gives no interval.

The verdict of an effect whose paper direction is ``sign`` (+1: the variant is ahead):
``"reproduced"`` when the interval excludes 0 on that side, ``"contradicted"`` when it excludes 0
on the other, ``"not resolved"`` otherwise.

The t quantile is computed here (regularised incomplete beta function by its continued fraction,
then bisection) so that running experiments needs no scipy; the tests check it against scipy.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

VERDICTS = ("reproduced", "contradicted", "not resolved")


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), as in Numerical Recipes."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0 < p < 1).

    Example:
        >>> round(t_quantile(0.975, 4), 4)
        2.7764
    """
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0; got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, list[float | None]]:
    """(mean, [low, high]): the two-sided Student-t interval of the mean of ``values`` ([None, None] for one value).

    Example:
        >>> mean, (low, high) = mean_interval([1.0, 2.0, 3.0])
        >>> mean, round(low, 3), round(high, 3)
        (2.0, -0.484, 4.484)
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_interval needs at least one value")
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, [None, None]
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    return mean, [mean - half, mean + half]


def verdict(ci95: Sequence[float | None], sign: int = 1) -> str:
    """``"reproduced"`` / ``"contradicted"`` / ``"not resolved"`` for an interval and the paper's direction ``sign``."""
    low, high = ci95
    if low is None or high is None:
        return "not resolved"
    if sign * low > 0 and sign * high > 0:
        return "reproduced"
    if sign * low < 0 and sign * high < 0:
        return "contradicted"
    return "not resolved"


def paired_effect(metric: str, comparison: str, variant: dict, reference: dict, sign: int = 1,
                  claim: bool = True) -> dict | None:
    """The effect ``variant − reference`` over the seeds both have (``{seed: value}`` maps); None without a shared seed.

    Returns ``{"metric", "comparison", "mean_diff", "ci95", "n_seeds", "sign", "claim", "verdict", "diffs"}``;
    ``claim`` marks the effects that the paper states (the others are shown, not judged).
    """
    seeds = sorted(set(variant) & set(reference))
    if not seeds:
        return None
    diffs = [float(variant[s]) - float(reference[s]) for s in seeds]
    mean, ci95 = mean_interval(diffs)
    return {"metric": metric, "comparison": comparison, "mean_diff": mean, "ci95": ci95, "n_seeds": len(seeds),
            "sign": sign, "claim": claim, "verdict": verdict(ci95, sign), "diffs": diffs}


def overall_verdict(effects: Iterable[dict]) -> str:
    """One verdict from the claimed effects: contradicted if any is, reproduced if all are, else not resolved."""
    claimed = [e["verdict"] for e in effects if e.get("claim", True)]
    if not claimed:
        return "not resolved"
    if "contradicted" in claimed:
        return "contradicted"
    return "reproduced" if all(v == "reproduced" for v in claimed) else "not resolved"


def by_seed(rows: Iterable[dict], metric: str, **match) -> dict[int, float]:
    """``{seed: row[metric]}`` of the rows whose fields equal ``match`` (None values left out)."""
    return {row["seed"]: row[metric] for row in rows
            if all(row.get(k) == v for k, v in match.items()) and row.get(metric) is not None}


def describe(effect: dict, digits: int = 2) -> str:
    """``'consistency full − same +1.20 [+0.30, +2.10] (n=4): reproduced'``."""
    low, high = effect["ci95"]
    interval = "no interval" if low is None else f"[{low:+.{digits}f}, {high:+.{digits}f}]"
    return (f"{effect['metric']} {effect['comparison']} {effect['mean_diff']:+.{digits}f} {interval} "
            f"(n={effect['n_seeds']}): {effect['verdict']}")
