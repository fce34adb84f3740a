"""Forecast error per task: mean absolute error and directional accuracy.

Direction is measured against each task's "no change" reference: 0 for the mid change, the
current spread for the spread, and the training median for the log volume. Rows where the
truth equals its reference (no direction to call) are left out of the accuracy.
"""

from __future__ import annotations

import numpy as np

from lob.targets import TASKS


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - true))) if len(true) else float("nan")


def directional_accuracy(pred: np.ndarray, true: np.ndarray, ref: np.ndarray) -> float:
    """Share of rows (where the truth moved away from `ref`) whose prediction moved the same way."""
    moved = true != ref
    if not moved.any():
        return float("nan")
    return float(np.mean(np.sign(pred[moved] - ref[moved]) == np.sign(true[moved] - ref[moved])))


def direction_reference(current_spread: np.ndarray, train_volume_median: float) -> np.ndarray:
    """(N, 3) reference per task, in TASKS order."""
    n = len(current_spread)
    return np.column_stack([np.zeros(n), current_spread, np.full(n, train_volume_median)])


def forecast_metrics(pred: np.ndarray, true: np.ndarray, ref: np.ndarray) -> dict[str, dict[str, float]]:
    """{task: {"mae", "dir_acc", "n"}} for (N, 3) predictions, truths and references."""
    if not pred.shape == true.shape == ref.shape or pred.shape[1:] != (len(TASKS),):
        raise ValueError(f"shapes differ or are not (N, {len(TASKS)}): {pred.shape}, {true.shape}, {ref.shape}")
    return {
        task: {
            "mae": mae(pred[:, k], true[:, k]),
            "dir_acc": directional_accuracy(pred[:, k], true[:, k], ref[:, k]),
            "n": int(len(true)),
        }
        for k, task in enumerate(TASKS)
    }
