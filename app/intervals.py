"""Confidence intervals for paired differences between two rankings of the same queries."""

from __future__ import annotations

import numpy as np

BOOTSTRAP = 1000


def bootstrap_diff(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean of b - a over the queries where both are finite, in points (x 100), and its 95 % paired
    bootstrap interval (queries resampled with replacement)."""
    keep = np.isfinite(a) & np.isfinite(b)
    d = (np.asarray(b, np.float64) - np.asarray(a, np.float64))[keep] * 100
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, (BOOTSTRAP, d.size))].mean(axis=1)
    return float(d.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))
