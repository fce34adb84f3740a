"""The one definition of the model's input features, used offline and online.

A snapshot is summarised as a *record* (float64 row): the top L bid and ask prices in ticks,
their sizes, and the volume bought and sold by aggressors during the grid step that ended at
the snapshot. Features at step t read only records t-WINDOW+1 .. t (past-only by construction).

- `features(records)`        vectorised over a whole dataset, (N, R) -> (N, F) float32
- `RollingFeatures`          the serving fast path: push records one at a time, read the newest
                             one's F features as floats; the same numbers as the vectorised path
When fewer than WINDOW rows precede t (the start of a dataset, or a cold server window), the
window is the rows available: lags reach back to the first row at most.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from lob.dataset import BUY, Dataset

WINDOW = 50  # snapshots: 5 s at the default 100 ms grid
RETURN_LAGS = (1, 5, 10, 25, WINDOW - 1)


def record_width(levels: int) -> int:
    return 4 * levels + 2


def feature_names(levels: int) -> list[str]:
    names = [f"bid_rel_{i}" for i in range(levels)] + [f"ask_rel_{i}" for i in range(levels)]
    names += [f"log_bid_sz_{i}" for i in range(levels)] + [f"log_ask_sz_{i}" for i in range(levels)]
    names += ["spread", "imbalance_1", "imbalance_5", f"imbalance_{levels}", "microprice_offset"]
    names += [f"mid_return_{k}" for k in RETURN_LAGS]
    names += [
        "realized_vol",
        "log_buy_volume",
        "log_sell_volume",
        "trade_flow_imbalance",
        "log_buy_volume_last",
        "log_sell_volume_last",
    ]
    return names


def feature_index(name: str, levels: int) -> int:
    return feature_names(levels).index(name)


def step_trade_volume(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Aggressor buy and sell volume in each grid step (ts[t-1], ts[t]], shape (N,) each."""
    edges = np.concatenate([[ds.ts_ns[0] - ds.grid_ns], ds.ts_ns])
    step = np.searchsorted(edges, ds.trades["ts_ns"], side="left") - 1  # bin b: (edges[b], edges[b+1]]
    inside = (step >= 0) & (step < ds.n)
    buy = np.zeros(ds.n)
    sell = np.zeros(ds.n)
    is_buy = ds.trades["side"] == BUY
    np.add.at(buy, step[inside & is_buy], ds.trades["sz"][inside & is_buy])
    np.add.at(sell, step[inside & ~is_buy], ds.trades["sz"][inside & ~is_buy])
    return buy, sell


def records(ds: Dataset) -> np.ndarray:
    """The dataset as records, (N, 4L+2) float64."""
    buy, sell = step_trade_volume(ds)
    return np.column_stack([ds.bid_px, ds.ask_px, ds.bid_sz, ds.ask_sz, buy, sell]).astype(np.float64)


def _book_features(rec: np.ndarray, levels: int) -> np.ndarray:
    """Features of each row's own book, (N, R) -> (N, 4L+5)."""
    bid_px, ask_px = rec[:, :levels], rec[:, levels : 2 * levels]
    bid_sz, ask_sz = rec[:, 2 * levels : 3 * levels], rec[:, 3 * levels : 4 * levels]
    mid = (bid_px[:, :1] + ask_px[:, :1]) / 2.0
    spread = ask_px[:, 0] - bid_px[:, 0]
    imbalances = [_imbalance(bid_sz[:, :k].sum(1), ask_sz[:, :k].sum(1)) for k in (1, min(5, levels), levels)]
    top = bid_sz[:, 0] + ask_sz[:, 0]
    micro = (ask_px[:, 0] * bid_sz[:, 0] + bid_px[:, 0] * ask_sz[:, 0]) / np.where(top > 0, top, 1.0)
    micro_offset = np.where(top > 0, micro - mid[:, 0], 0.0)
    return np.column_stack(
        [
            bid_px - mid,
            ask_px - mid,
            np.log1p(bid_sz),
            np.log1p(ask_sz),
            spread,
            *imbalances,
            micro_offset,
        ]
    )


def _imbalance(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    total = b + a
    return np.where(total > 0, (b - a) / np.where(total > 0, total, 1.0), 0.0)


def _flow(buy_total: np.ndarray, sell_total: np.ndarray, buy_last: np.ndarray, sell_last: np.ndarray):
    return [
        np.log1p(buy_total),
        np.log1p(sell_total),
        _imbalance(buy_total, sell_total),
        np.log1p(buy_last),
        np.log1p(sell_last),
    ]


def features(rec: np.ndarray) -> np.ndarray:
    """Vectorised features for every row, (N, R) -> (N, F) float32."""
    levels = (rec.shape[1] - 2) // 4
    n = len(rec)
    book = _book_features(rec, levels)
    mid = (rec[:, 0] + rec[:, levels]) / 2.0
    idx = np.arange(n)
    returns = [mid - mid[np.maximum(idx - k, 0)] for k in RETURN_LAGS]
    # realised volatility: RMS of one-step mid changes inside the window (first row has none)
    step = np.diff(mid, prepend=mid[0])
    csq = np.concatenate([[0.0], np.cumsum(step**2)])
    lo = np.maximum(idx - WINDOW + 1, 0) + 1  # first step index with both ends inside the window
    count = idx + 1 - lo
    rv = np.sqrt(np.where(count > 0, (csq[idx + 1] - csq[lo]) / np.maximum(count, 1), 0.0))
    start = np.maximum(idx - WINDOW + 1, 0)
    cbuy = np.concatenate([[0.0], np.cumsum(rec[:, -2])])
    csell = np.concatenate([[0.0], np.cumsum(rec[:, -1])])
    flow = _flow(cbuy[idx + 1] - cbuy[start], csell[idx + 1] - csell[start], rec[:, -2], rec[:, -1])
    return np.column_stack([book, *returns, rv, *flow]).astype(np.float32)


class RollingFeatures:
    """Online features of one instrument: `push` its records one by one, read the newest one's `features`.

    The serving hot path. It keeps only what the window-wide features read (each record's mid and trade
    volumes, each one-step mid change squared) in plain-float deques of the last WINDOW records, and the
    newest record itself: at batch 1 a sum over a 50-float list costs far less than numpy calls on a
    window array. `features()` equals `features(records)[t]` on the same records (tested).
    """

    __slots__ = ("levels", "row", "mids", "buys", "sells", "steps_sq")

    def __init__(self, levels: int):
        self.levels = levels
        self.row: list[float] = []
        self.mids: deque[float] = deque(maxlen=WINDOW)
        self.buys: deque[float] = deque(maxlen=WINDOW)
        self.sells: deque[float] = deque(maxlen=WINDOW)
        self.steps_sq: deque[float] = deque(maxlen=WINDOW - 1)

    def __len__(self) -> int:
        """Records in the window, at most WINDOW."""
        return len(self.mids)

    def clear(self) -> None:
        for ring in (self.mids, self.buys, self.sells, self.steps_sq):
            ring.clear()
        self.row = []

    def push(self, record: list[float]) -> None:
        """Append a record (a list of 4L+2 floats, `records` layout)."""
        mid = (record[0] + record[self.levels]) / 2.0
        if self.mids:
            step = mid - self.mids[-1]
            self.steps_sq.append(step * step)
        self.mids.append(mid)
        self.buys.append(record[-2])
        self.sells.append(record[-1])
        self.row = record

    def features(self) -> list[float]:
        """The newest record's F features (float64; `features()` casts the same numbers to float32); needs at
        least one record."""
        row, levels, mids = self.row, self.levels, self.mids
        best_bid, best_ask, mid = row[0], row[levels], mids[-1]
        bid_sz, ask_sz = row[2 * levels : 3 * levels], row[3 * levels : 4 * levels]
        depth = [(sum(bid_sz[:k]), sum(ask_sz[:k])) for k in (1, min(5, levels), levels)]
        top = bid_sz[0] + ask_sz[0]
        micro_offset = (best_ask * bid_sz[0] + best_bid * ask_sz[0]) / top - mid if top > 0 else 0.0
        last = len(mids) - 1
        returns = [mid - mids[max(last - k, 0)] for k in RETURN_LAGS]
        rv = math.sqrt(sum(self.steps_sq) / last) if last else 0.0
        buy, sell = sum(self.buys), sum(self.sells)

        out = [price - mid for price in row[: 2 * levels]]
        out += [math.log1p(size) for size in row[2 * levels : 4 * levels]]
        out += [best_ask - best_bid, *(_scalar_imbalance(b, a) for b, a in depth), micro_offset, *returns, rv]
        out += [math.log1p(buy), math.log1p(sell), _scalar_imbalance(buy, sell)]
        out += [math.log1p(row[-2]), math.log1p(row[-1])]
        return out


def _scalar_imbalance(b: float, a: float) -> float:
    total = b + a
    return (b - a) / total if total > 0 else 0.0
