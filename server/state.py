"""Per-symbol windows of recent records, bounded in symbols (least recently used evicted).

Each window is a doubled ring buffer: record i is written at rows i and i + WINDOW of a (2W, R)
array, so the last n records are always one contiguous slice, oldest first, with no copy.
Callers check every snapshot with `check` before any `push`, so a refused request changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from lob.features import WINDOW
from server.errors import RequestError


class SymbolWindow:
    __slots__ = ("buf", "pos", "count", "last_ts", "tick")

    def __init__(self, width: int, tick: float):
        self.buf = np.zeros((2 * WINDOW, width), np.float64)
        self.pos = -1  # row of the newest record
        self.count = 0  # records in the current window, at most WINDOW
        self.last_ts = -1
        self.tick = tick

    def push(self, record: np.ndarray, ts_ns: int, max_gap_ns: int) -> np.ndarray:
        """Append a record (resetting the window after a long gap); return the window, oldest first."""
        if self.count and ts_ns - self.last_ts > max_gap_ns:
            self.count = 0
        self.pos = (self.pos + 1) % WINDOW
        self.buf[self.pos] = record
        self.buf[self.pos + WINDOW] = record
        self.count = min(self.count + 1, WINDOW)
        self.last_ts = ts_ns
        end = self.pos + WINDOW + 1
        return self.buf[end - self.count : end]

    @property
    def warm(self) -> bool:
        return self.count >= WINDOW


class SymbolStates:
    def __init__(self, width: int, max_symbols: int, max_gap_ns: int):
        self.width = width
        self.max_symbols = max_symbols
        self.max_gap_ns = max_gap_ns
        self._windows: OrderedDict[str, SymbolWindow] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._windows

    def check(self, symbol: str, ts_ns: int, prefix: str = "") -> None:
        """Refuse (409) a snapshot not newer than the symbol's last one."""
        window = self._windows.get(symbol)
        if window is not None and ts_ns <= window.last_ts:
            raise RequestError(
                409,
                "stale_snapshot",
                f"{symbol}: ts_ns {ts_ns} is not after the last snapshot's {window.last_ts}",
                f"{prefix}ts_ns",
            )

    def push(self, symbol: str, ts_ns: int, tick: float, record: np.ndarray) -> tuple[np.ndarray, bool]:
        """Append a checked record; return (the symbol's window, warm). A new tick (a reloaded bundle's,
        or the request's) changes the units of the records, so it restarts the window."""
        window = self._windows.get(symbol)
        if window is None:
            if len(self._windows) >= self.max_symbols:
                self._windows.popitem(last=False)
            window = self._windows[symbol] = SymbolWindow(self.width, tick)
        else:
            self._windows.move_to_end(symbol)
            if window.tick != tick:
                window.count, window.tick = 0, tick
        rows = window.push(record, ts_ns, self.max_gap_ns)
        return rows, window.warm
