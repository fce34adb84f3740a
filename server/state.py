"""Per-symbol windows of recent snapshots, bounded in symbols (least recently used evicted).

A symbol's window is a `lob.features.RollingFeatures`: what the features of its newest snapshot read
from the last WINDOW records. Callers check every snapshot with `check` before any `push`, so a
refused request changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict

from lob.features import WINDOW, RollingFeatures
from server.errors import RequestError


class SymbolWindow(RollingFeatures):
    __slots__ = ("last_ts", "tick")

    def __init__(self, levels: int, tick: float):
        super().__init__(levels)
        self.last_ts = -1
        self.tick = tick

    @property
    def warm(self) -> bool:
        return len(self) >= WINDOW


class SymbolStates:
    def __init__(self, levels: int, max_symbols: int, max_gap_ns: int):
        self.levels = levels
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

    def push(self, symbol: str, ts_ns: int, tick: float, record: list[float]) -> SymbolWindow:
        """Append a checked record to the symbol's window and return the window. A gap longer than
        `max_gap_ns` restarts it, and so does a new tick (a reloaded bundle's, or the request's): the
        records' price units change."""
        window = self._windows.get(symbol)
        if window is None:
            if len(self._windows) >= self.max_symbols:
                self._windows.popitem(last=False)
            window = self._windows[symbol] = SymbolWindow(self.levels, tick)
        else:
            self._windows.move_to_end(symbol)
            if window.tick != tick or ts_ns - window.last_ts > self.max_gap_ns:
                window.clear()
                window.tick = tick
        window.push(record)
        window.last_ts = ts_ns
        return window
