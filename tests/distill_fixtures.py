"""Synthetic stand-ins for the teacher store and the probe, with the contract's shapes.

The table itself is real code: `lob.table.build_table` on a synthetic random-walk Dataset.
Teacher features plant one input feature per task in a band of layers (a signal a student can
learn from its inputs), so distillation has something to find.
"""

from __future__ import annotations

import numpy as np

from lob.dataset import TRADE_DTYPE, Dataset
from lob.table import Table, build_table
from lob.targets import TASKS

N_LAYERS = 31
PCA_DIMS = 32
PLANTED = ("spread", "imbalance_1", "log_buy_volume")


def synthetic_dataset(n: int = 3000, seed: int = 0, levels: int = 10, symbol: str = "SYNUSD") -> Dataset:
    rng = np.random.default_rng(seed)
    vol = np.repeat(rng.choice([0.2, 1.0, 3.0], n // 100 + 1), 100)[:n]  # calm / normal / volatile stretches
    mid2 = 2 * 100_000 + np.cumsum(np.round(rng.normal(0, vol)).astype(np.int64)) * 2  # twice the mid, even
    spread = rng.choice([1, 1, 1, 2, 3], n)
    bid0 = (mid2 - spread) // 2
    bid_px = bid0[:, None] - np.arange(levels)
    ask_px = (bid0 + spread)[:, None] + np.arange(levels)
    ts = 1_700_000_000_000_000_000 + np.arange(1, n + 1, dtype=np.int64) * 100_000_000
    m = n // 2
    trades = np.zeros(m, TRADE_DTYPE)
    trades["ts_ns"] = np.sort(rng.integers(ts[0] - 100_000_000, ts[-1], m))
    trades["px"] = bid0[np.minimum((trades["ts_ns"] - ts[0]) // 100_000_000 + 1, n - 1).clip(0)]
    trades["sz"] = rng.exponential(0.5, m)
    trades["side"] = rng.choice([-1, 1], m)
    return Dataset(
        symbol=symbol,
        venue="synthetic",
        tick=1.0,
        grid_ns=100_000_000,
        ts_ns=ts,
        bid_px=bid_px,
        bid_sz=rng.exponential(1.0, (n, levels)) + 0.01,
        ask_px=ask_px,
        ask_sz=rng.exponential(1.0, (n, levels)) + 0.01,
        trades=trades,
    ).validate()


def synthetic_table(n: int = 3000, seed: int = 0, horizon: int = 20) -> Table:
    return build_table([synthetic_dataset(n, seed)], horizon)


def synthetic_store(table: Table, stride: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rows, features (R, N_LAYERS, PCA_DIMS)): for task k, a standardised input feature (spread,
    imbalance_1, log_buy_volume) is planted in dimension k of layers 8k+4 .. 8k+10."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(table.split >= 0)[::stride]
    cols = [table.feature_names.index(name) for name in PLANTED]
    y = table.X[rows][:, cols].astype(np.float64)
    y = (y - y.mean(0)) / np.maximum(y.std(0), 1e-9)
    feats = rng.normal(0, 1, (len(rows), N_LAYERS, PCA_DIMS)).astype(np.float32)
    for k in range(len(TASKS)):
        feats[:, 8 * k + 4 : 8 * k + 11, k] += 2.0 * y[:, k : k + 1]
    return rows.astype(np.int64), feats


def synthetic_decomposition() -> list[dict]:
    """One student per (task, regime), as the probe would recommend."""
    return [
        {"task": task, "regime": regime, "layers": [8 * k + 4, 8 * k + 10]}
        for k, task in enumerate(TASKS)
        for regime in ("calm", "normal", "volatile")
    ]
