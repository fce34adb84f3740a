"""Small synthetic canonical datasets for unit tests (real-data tests live beside the readers)."""

import numpy as np

from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset


def synthetic_dataset(seed: int = 0, n: int = 400, levels: int = 10, symbol: str = "TEST") -> Dataset:
    rng = np.random.default_rng(seed)
    best_bid = 100_000 + np.cumsum(rng.integers(-1, 2, n) * (rng.random(n) < 0.3))
    spread = rng.integers(1, 3, n)
    bid_px = best_bid[:, None] - np.arange(levels)
    ask_px = (best_bid + spread)[:, None] + np.arange(levels)
    ts = 1_700_000_000_000_000_000 + np.arange(1, n + 1, dtype=np.int64) * 100_000_000
    m = n // 2
    trades = np.zeros(m, TRADE_DTYPE)
    trades["ts_ns"] = np.sort(rng.integers(ts[0] - 100_000_000, ts[-1], m))
    trades["side"] = np.where(rng.random(m) < 0.5, BUY, SELL)
    trades["sz"] = rng.exponential(0.2, m)
    trades["px"] = 100_000
    return Dataset(
        symbol=symbol,
        venue="synthetic",
        tick=0.01,
        grid_ns=100_000_000,
        ts_ns=ts,
        bid_px=bid_px.astype(np.int64),
        bid_sz=rng.exponential(1.0, (n, levels)) + 0.01,
        ask_px=ask_px.astype(np.int64),
        ask_sz=rng.exponential(1.0, (n, levels)) + 0.01,
        trades=trades,
    ).validate()
