"""Percentile bootstrap confidence intervals that resample whole trajectories, not steps.

Steps of one trajectory share a query, tools and history, so they are not independent: resampling steps
would give intervals that are too narrow. Every official metric is a ratio ``sum(values) / count`` over
its steps, so one resample is a weighted sum over trajectories: draw trajectories with replacement,
count how often each was drawn (``weights``), and divide ``weights @ sums`` by ``weights @ counts``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from umi_lib.evaluation.metrics import OFFICIAL_KEYS, StepScore


@dataclass
class Interval:
    """A metric's percentile interval over the resamples where the metric is defined."""

    low: float
    high: float
    defined: int  # resamples with at least one step in the metric's denominator


def unit_sums(scores: Sequence[StepScore], keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[Hashable]]:
    """Per resampling unit (trajectory) and metric: the sum of step values and the number of steps."""
    units = list(dict.fromkeys(s.unit for s in scores))
    index = {u: k for k, u in enumerate(units)}
    sums = np.zeros((len(units), len(keys)))
    counts = np.zeros((len(units), len(keys)))
    for s in scores:
        row = index[s.unit]
        for col, key in enumerate(keys):
            if key in s.values:
                sums[row, col] += s.values[key]
                counts[row, col] += 1
    return sums, counts, units


def bootstrap(
    scores: Sequence[StepScore],
    keys: Sequence[str] = OFFICIAL_KEYS,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Interval]:
    """Seeded percentile intervals for each metric, resampling :attr:`StepScore.unit` with replacement."""
    sums, counts, units = unit_sums(scores, keys)
    n = len(units)
    if n == 0 or resamples <= 0:
        return {}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    weights = np.zeros((resamples, n))
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1.0)
    num, den = weights @ sums, weights @ counts
    with np.errstate(invalid="ignore", divide="ignore"):
        estimates = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    tail = (1 - level) / 2 * 100
    out = {}
    for col, key in enumerate(keys):
        col_vals = estimates[:, col]
        ok = col_vals[~np.isnan(col_vals)]
        if ok.size == 0:
            out[key] = Interval(float("nan"), float("nan"), 0)
            continue
        low, high = np.percentile(ok, [tail, 100 - tail])
        out[key] = Interval(float(low), float(high), int(ok.size))
    return out
