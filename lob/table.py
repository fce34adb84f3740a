"""Datasets -> one learning table: features, targets, regimes and chronological splits.

Each dataset is split by time on its own (train, then val, then test, with a gap of H rows
between them), then the rows are stacked. Regime edges are fitted on training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lob.dataset import Dataset
from lob.features import feature_index, feature_names, features, records
from lob.targets import (
    DEFAULT_FRACTIONS,
    DEFAULT_HORIZON,
    SPLITS,
    fit_regime_edges,
    regimes,
    split_slices,
    targets,
)

NO_SPLIT = -1  # rows in a gap between splits, or without a target


@dataclass(frozen=True)
class Table:
    X: np.ndarray  # (N, F) float32 features
    Y: np.ndarray  # (N, 3) float64 targets in lob.targets.TASKS order (NaN: none)
    regime: np.ndarray  # (N,) int64 in 0..2
    split: np.ndarray  # (N,) int8: index into SPLITS, or NO_SPLIT
    dataset_id: np.ndarray  # (N,) int32: which input dataset
    row: np.ndarray  # (N,) int64: row within that dataset
    edges: np.ndarray  # (2,) regime edges on realized_vol
    feature_names: list[str]
    horizon: int
    levels: int

    def rows(self, split: str) -> np.ndarray:
        """Indices of the rows in one split ("train", "val" or "test")."""
        return np.flatnonzero(self.split == SPLITS.index(split))


def build_table(
    datasets: list[Dataset],
    horizon: int = DEFAULT_HORIZON,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> Table:
    if not datasets:
        raise ValueError("no datasets given")
    levels = {ds.levels for ds in datasets}
    if len(levels) != 1:
        raise ValueError(f"datasets have different depths {sorted(levels)}: prepare them with the same --levels")
    (level_count,) = levels
    xs, ys, splits, ids, rows = [], [], [], [], []
    for i, ds in enumerate(datasets):
        xs.append(features(records(ds)))
        y = targets(ds, horizon)
        split = np.full(ds.n, NO_SPLIT, np.int8)
        for k, sl in enumerate(split_slices(ds.n, horizon, fractions).values()):
            split[sl] = k
        split[np.isnan(y).any(axis=1)] = NO_SPLIT
        ys.append(y)
        splits.append(split)
        ids.append(np.full(ds.n, i, np.int32))
        rows.append(np.arange(ds.n, dtype=np.int64))
    X = np.concatenate(xs)
    split = np.concatenate(splits)
    vol = X[:, feature_index("realized_vol", level_count)].astype(np.float64)
    edges = fit_regime_edges(vol[split == 0])
    return Table(
        X=X,
        Y=np.concatenate(ys),
        regime=regimes(vol, edges),
        split=split,
        dataset_id=np.concatenate(ids),
        row=np.concatenate(rows),
        edges=edges,
        feature_names=feature_names(level_count),
        horizon=horizon,
        levels=level_count,
    )
