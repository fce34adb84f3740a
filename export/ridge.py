"""Ridge regression with the penalty chosen by exact leave-one-out error (one SVD per fit).

Used by the probe and the teacher heads. Inputs are standardised with the fit rows' statistics and
targets centred, so the intercept is not penalised; each target column gets its own penalty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHAS = np.logspace(-3, 5, 17)


@dataclass(frozen=True)
class Ridge:
    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    coef: np.ndarray  # (F, T) on standardised inputs
    intercept: np.ndarray  # (T,)
    alpha: np.ndarray  # (T,) chosen penalty per target

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, F) -> (N, T) float64."""
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.coef + self.intercept


def fit_ridge(x: np.ndarray, y: np.ndarray, alphas: np.ndarray = ALPHAS) -> Ridge:
    """Fit (N, F) -> (N, T) (a 1-D `y` is one target), picking each target's alpha by leave-one-out."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    n = len(x)
    if n < 3 or len(y) != n:
        raise ValueError(f"ridge needs >= 3 rows with matching targets, got x {x.shape} and y {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("ridge inputs and targets must be finite")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    y_mean = y.mean(axis=0)
    u, s, vt = np.linalg.svd((x - mean) / scale, full_matrices=False)
    uty = u.T @ (y - y_mean)  # (K, T)
    best_loss = np.full(y.shape[1], np.inf)
    best_alpha = np.zeros(y.shape[1])
    for alpha in alphas:
        shrink = s**2 / (s**2 + alpha)  # (K,)
        fitted = u @ (shrink[:, None] * uty)
        leverage = 1.0 / n + (u**2) @ shrink  # hat-matrix diagonal, intercept included
        loss = np.mean(((y - y_mean - fitted) / np.maximum(1.0 - leverage, 1e-9)[:, None]) ** 2, axis=0)
        better = loss < best_loss
        best_loss[better], best_alpha[better] = loss[better], alpha
    d = s[:, None] / (s[:, None] ** 2 + best_alpha[None])  # (K, T)
    coef = vt.T @ (d * uty)
    return Ridge(mean=mean, scale=scale, coef=coef, intercept=y_mean, alpha=best_alpha)


def r2_score(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-column R² = 1 - SSE / SST around the held-out mean; 0 where the target does not vary."""
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
    sse = ((y - pred) ** 2).sum(axis=0)
    sst = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return np.where(sst > 1e-12, 1.0 - sse / np.where(sst > 1e-12, sst, 1.0), 0.0)
