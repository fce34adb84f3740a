"""What the models predict (targets at horizon H), market regimes, and chronological splits.

Targets at step t read only snapshots t .. t+H (never before t):
    mid_change  mid[t+H] - mid[t], in ticks
    spread      spread at t+H, in ticks
    volume      log1p of the volume traded in (ts[t], ts[t+H]] (both sides, base units);
                a source without trades uses the size removed from the touch instead (stated in `volume_kind`)
The last H rows have no target (NaN).

Regimes come from the past-only realised-volatility feature, with bin edges fitted on the
training rows only: 0 = calm, 1 = normal, 2 = volatile.
"""

from __future__ import annotations

import numpy as np

from lob.dataset import Dataset
from lob.features import step_trade_volume

# 5 s at 100 ms. Share of rows whose mid has not moved H steps ahead (measured, see README):
# Bitstamp 92% at 1 s, 87% at 2 s, 76% at 5 s; Binance spot BTCUSDT 50% at 1 s, 31% at 2 s, 10% at 5 s.
# 5 s leaves a quarter of the Bitstamp rows with a move to learn from and is still a quoting horizon.
DEFAULT_HORIZON = 50
TASKS = ("mid_change", "spread", "volume")
REGIMES = ("calm", "normal", "volatile")
SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def volume_kind(ds: Dataset) -> str:
    return "traded volume" if ds.has_trades else "touch depletion (no trades in source)"


def _future_volume(ds: Dataset, horizon: int) -> np.ndarray:
    """Volume in steps t+1 .. t+H for each t with a full horizon, (N-H,).

    Summed per step, then over a sliding window (not as a difference of cumulative sums), so a
    target never depends, even by rounding, on anything before t.
    """
    if ds.has_trades:
        buy, sell = step_trade_volume(ds)
        per_step = buy + sell
    else:
        per_step = np.zeros(ds.n)
        same_bid = ds.bid_px[1:, 0] == ds.bid_px[:-1, 0]
        same_ask = ds.ask_px[1:, 0] == ds.ask_px[:-1, 0]
        per_step[1:] += np.where(same_bid, np.maximum(ds.bid_sz[:-1, 0] - ds.bid_sz[1:, 0], 0), 0)
        per_step[1:] += np.where(same_ask, np.maximum(ds.ask_sz[:-1, 0] - ds.ask_sz[1:, 0], 0), 0)
    return np.lib.stride_tricks.sliding_window_view(per_step[1:], horizon).sum(axis=1)


def targets(ds: Dataset, horizon: int = DEFAULT_HORIZON) -> np.ndarray:
    """(N, 3) float64 targets in TASKS order; rows without a future H steps ahead are NaN."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    out = np.full((ds.n, len(TASKS)), np.nan)
    if ds.n <= horizon:
        return out
    mid, spread = ds.mid_ticks(), ds.spread_ticks()
    out[:-horizon, 0] = mid[horizon:] - mid[:-horizon]
    out[:-horizon, 1] = spread[horizon:]
    out[:-horizon, 2] = np.log1p(_future_volume(ds, horizon))
    return out


def fit_regime_edges(vol_train: np.ndarray) -> np.ndarray:
    """Two edges splitting training volatility into calm / normal / volatile.

    Terciles, except that a quiet book (over a third of the rows with no mid move at all)
    makes "no move" the calm regime and splits the moving rows at their median.
    """
    vol_train = vol_train[np.isfinite(vol_train)]
    if len(vol_train) == 0:
        raise ValueError("cannot fit regime edges on no rows")
    low, high = np.quantile(vol_train, [1 / 3, 2 / 3])
    if low <= 0:
        moving = vol_train[vol_train > 0]
        low = 0.0
        high = float(np.median(moving)) if len(moving) else 0.0
    return np.array([low, max(high, low)], dtype=np.float64)


def regimes(vol: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Regime index per row: 0 if vol <= edges[0], 1 if <= edges[1], else 2."""
    return np.searchsorted(edges, vol, side="left").astype(np.int64)


def split_slices(n: int, horizon: int, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> dict:
    """Chronological train / val / test row slices, with a gap of `horizon` rows between them
    so that no training target looks into the validation period (and so on)."""
    if not np.isclose(sum(fractions), 1.0) or min(fractions) <= 0:
        raise ValueError(f"split fractions must be positive and sum to 1, got {fractions}")
    a = int(n * fractions[0])
    b = int(n * (fractions[0] + fractions[1]))
    return {"train": slice(0, max(a - horizon, 0)), "val": slice(a, max(b - horizon, a)), "test": slice(b, n)}
