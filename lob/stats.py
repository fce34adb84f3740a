"""Paired bootstrap over episodes: is one strategy better than another on the same episodes?"""

from __future__ import annotations

import numpy as np


def paired_bootstrap(x: np.ndarray, y: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean of x - y over paired episodes, its 95% percentile interval and a two-sided bootstrap p-value."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"paired bootstrap needs two equal-length series of >= 2 episodes, got {x.shape}, {y.shape}")
    diff = x - y
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (n_boot, len(diff)))].mean(axis=1)
    p = 2 * min(np.mean(means <= 0), np.mean(means >= 0))
    lo, hi = np.quantile(means, [0.025, 0.975])
    return {"mean_diff": float(diff.mean()), "ci_low": float(lo), "ci_high": float(hi), "p_value": float(min(p, 1.0))}


def ratio_of_means_interval(num: np.ndarray, den: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of mean(num) / mean(den), resampling episodes (NaN where mean(den) = 0)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    if num.shape != den.shape or len(num) < 2:
        raise ValueError(f"ratio interval needs two equal-length series of >= 2 episodes, got {num.shape}, {den.shape}")
    idx = np.random.default_rng(seed).integers(0, len(num), (n_boot, len(num)))
    d = den[idx].mean(axis=1)
    ratios = np.where(d > 0, num[idx].mean(axis=1) / np.where(d > 0, d, 1.0), np.nan)
    ratios = ratios[np.isfinite(ratios)]
    if len(ratios) == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(ratios, [0.025, 0.975])
    return float(lo), float(hi)
