"""The teacher's own forecasts: a ridge head per (layer, task) on training rows, best layer per task on val.

This is the slow "LLM market maker" the students replace: its forecast for a row is the prediction of
the head on the layer that did best on the validation rows for that task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.ridge import Ridge, fit_ridge, r2_score
from export.teacher_store import TeacherStore
from lob.table import Table
from lob.targets import SPLITS, TASKS


@dataclass(frozen=True)
class TeacherHeads:
    heads: list[Ridge]  # one per layer; each predicts every task with its own penalty
    val_r2: np.ndarray  # (n_layers, n_tasks) validation R² of each head
    best_layer: np.ndarray  # (n_tasks,) int: the layer whose head forecasts each task

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Teacher forecast from stored features (R, n_layers, D) -> (R, n_tasks), tasks in TASKS order."""
        if features.ndim != 3 or features.shape[1] != len(self.heads):
            raise ValueError(f"features have shape {features.shape}, expected (R, {len(self.heads)}, D)")
        out = np.empty((len(features), len(TASKS)))
        for task, layer in enumerate(self.best_layer):
            out[:, task] = self.heads[layer].predict(features[:, layer])[:, task]
        return out


def _split_mask(store: TeacherStore, table: Table, split: str) -> np.ndarray:
    if store.rows.max(initial=-1) >= len(table.split):
        raise ValueError(f"store rows reach {store.rows.max()}, but the table has {len(table.split)} rows")
    mask = table.split[store.rows] == SPLITS.index(split)
    if mask.sum() < 3:
        raise ValueError(f"only {int(mask.sum())} {split} rows have teacher features: lower --stride or raise --limit")
    return mask


def fit_teacher_heads(store: TeacherStore, table: Table) -> TeacherHeads:
    """Fit every (layer, task) head on the store's training rows; pick each task's layer on its val rows."""
    train, val = _split_mask(store, table, "train"), _split_mask(store, table, "val")
    y = table.Y[store.rows]
    heads = [fit_ridge(store.features[train, layer], y[train]) for layer in range(store.n_layers)]
    val_r2 = np.stack([r2_score(y[val], h.predict(store.features[val, layer])) for layer, h in enumerate(heads)])
    return TeacherHeads(heads=heads, val_r2=val_r2, best_layer=np.argmax(val_r2, axis=0))


def teacher_forecast(store: TeacherStore, table: Table, heads: TeacherHeads | None = None) -> np.ndarray:
    """The teacher's forecast (R, n_tasks) for every stored row (`store.rows` order)."""
    heads = heads or fit_teacher_heads(store, table)
    return heads.predict(store.features)
