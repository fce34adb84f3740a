"""Book states with times -> snapshots on a regular time grid (shared by every reader).

A snapshot at grid time t is the book as of the END of the step (t - grid, t]: the last state
whose time is <= t. Grid times are multiples of the grid step since the Unix epoch, from the
first step end at or after the first state to the last step end at or before the last state,
so each snapshot is backed by data and steps without events carry the book forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lob.dataset import DEFAULT_GRID_MS, DEFAULT_LEVELS, TRADE_DTYPE


def grid_ends(first_ns: int, last_ns: int, grid_ns: int) -> np.ndarray:
    """Multiples of `grid_ns` in [first_ns, last_ns], int64 (empty when the span holds none)."""
    if grid_ns <= 0:
        raise ValueError(f"grid step must be positive, got {grid_ns} ns")
    first = -(-int(first_ns) // grid_ns) * grid_ns
    last = int(last_ns) // grid_ns * grid_ns
    return np.arange(first, last + 1, grid_ns, dtype=np.int64) if last >= first else np.empty(0, np.int64)


def sample(state_ts: np.ndarray, grid_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """(ts_ns, idx): grid step ends covered by the states, and the index of the state in force at each."""
    state_ts = np.asarray(state_ts, dtype=np.int64)
    if len(state_ts) == 0:
        raise ValueError("no valid book state to sample (every state was empty, one-sided or crossed)")
    if np.any(np.diff(state_ts) < 0):
        raise ValueError(f"book state times go backwards at state {int(np.argmax(np.diff(state_ts) < 0)) + 1}")
    ts = grid_ends(state_ts[0], state_ts[-1], grid_ns)
    if len(ts) == 0:
        raise ValueError(f"the data spans less than one {grid_ns / 1e6:g} ms grid step")
    idx = np.searchsorted(state_ts, ts, side="right") - 1
    return ts, idx


def trades_in_span(trades: np.ndarray, ts_ns: np.ndarray, grid_ns: int) -> tuple[np.ndarray, int]:
    """Trades sorted by time (stable) and kept when inside the snapshots' steps (ts[0] - grid, ts[-1]];
    returns them and how many were dropped."""
    trades = np.asarray(trades, dtype=TRADE_DTYPE)
    trades = trades[np.argsort(trades["ts_ns"], kind="stable")]
    inside = (trades["ts_ns"] > ts_ns[0] - grid_ns) & (trades["ts_ns"] <= ts_ns[-1])
    return trades[inside], int((~inside).sum())


def longest_quiet_ms(state_ts: np.ndarray) -> float:
    """The longest time between consecutive book states, in ms (0 with fewer than two states)."""
    return float(np.diff(state_ts).max() / 1e6) if len(state_ts) > 1 else 0.0


@dataclass(frozen=True)
class SnapshotOptions:
    """How a reader turns raw data into snapshots: depth, grid step, and the price tick (None: inferred)."""

    levels: int = DEFAULT_LEVELS
    grid_ms: float = DEFAULT_GRID_MS
    tick: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.levels, int) and self.levels >= 1):
            raise ValueError(f"levels must be a positive integer, got {self.levels!r}")
        if not (math.isfinite(self.grid_ms) and self.grid_ms > 0 and abs(self.grid_ms * 1e6 - self.grid_ns) < 1e-6):
            raise ValueError(f"grid_ms must be a positive whole number of nanoseconds, got {self.grid_ms!r}")
        if self.tick is not None and not (math.isfinite(self.tick) and self.tick > 0):
            raise ValueError(f"tick must be a positive number, got {self.tick!r}")

    @property
    def grid_ns(self) -> int:
        return round(self.grid_ms * 1e6)


DEFAULT_OPTIONS = SnapshotOptions()
