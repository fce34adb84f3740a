"""A price-level order book rebuilt from events, and the record of its clean top-L states.

`SideBook` keeps one side's levels in a sorted key list (bisect), so reading the top L levels
after every event is a slice, not a sort. `BookStates` records the top L of both sides at given
times, skipping states that a dataset may not hold (a side empty, or best bid >= best ask) and
counting why, then hands them over as arrays padded like `lob.dataset.pad_levels`. It keeps only
states that grid sampling (`lob.grid.sample`) can pick: a state followed by a newer one before
the next grid step end is replaced, so memory follows the number of grid steps, not of events.
"""

from __future__ import annotations

from bisect import bisect_left, insort

import numpy as np

BID = 1
ASK = -1


class SideBook:
    """One side's price levels (prices in ticks); `side` is BID or ASK."""

    def __init__(self, side: int) -> None:
        self.side = side
        self._keys: list[int] = []  # ascending; key = -price for bids, price for asks: best first
        self._qty: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def set(self, px: int, qty: float) -> None:
        """Set the level at `px` to `qty`; qty <= 0 removes it."""
        key = -px if self.side == BID else px
        if qty > 0:
            if key not in self._qty:
                insort(self._keys, key)
            self._qty[key] = qty
        elif self._qty.pop(key, None) is not None:
            del self._keys[bisect_left(self._keys, key)]

    def replace(self, levels: dict[int, float]) -> None:
        """Replace the whole side with {px: qty} (levels with qty <= 0 are left out)."""
        self._qty = {(-px if self.side == BID else px): q for px, q in levels.items() if q > 0}
        self._keys = sorted(self._qty)

    def best(self) -> int | None:
        if not self._keys:
            return None
        return -self._keys[0] if self.side == BID else self._keys[0]

    def top(self, levels: int) -> tuple[list[int], list[float]]:
        """Prices and sizes of the best `levels` levels, best first."""
        keys, sizes = self.top_keys(levels)
        return ([-k for k in keys] if self.side == BID else keys), sizes

    def top_keys(self, levels: int) -> tuple[list[int], list[float]]:
        """Like `top` but with prices as sort keys (-price for bids): the fast path for recording."""
        keys = self._keys[:levels]
        return keys, list(map(self._qty.__getitem__, keys))


class BookStates:
    """Clean top-L book states with their times (non-decreasing), in the order recorded."""

    def __init__(self, levels: int, grid_ns: int) -> None:
        self.levels = levels
        self.grid_ns = grid_ns
        self.clean = 0  # clean states recorded, kept or replaced
        self.skipped = {"one_sided": 0, "crossed": 0}
        self.tags: list = []  # the caller's tag of each kept state (e.g. an update id)
        self._ts: list[int] = []
        self._flat: tuple[list, list, list, list] = ([], [], [], [])  # bid keys, bid sizes, ask px, ask sizes

    def __len__(self) -> int:
        return len(self._ts)

    def record(self, ts_ns: int, bids: SideBook, asks: SideBook, tag: object = None) -> bool:
        """Record the book at `ts_ns` when both sides exist and it is neither crossed nor locked."""
        best_bid, best_ask = bids.best(), asks.best()
        if best_bid is None or best_ask is None:
            self.skipped["one_sided"] += 1
            return False
        if best_bid >= best_ask:
            self.skipped["crossed"] += 1
            return False
        if self._ts and -(-self._ts[-1] // self.grid_ns) * self.grid_ns >= ts_ns:  # no step end in [last, ts)
            self._drop_last()
        self.clean += 1
        self._ts.append(ts_ns)
        self.tags.append(tag)
        for flat, values in zip(self._flat, (*self._padded(bids), *self._padded(asks)), strict=True):
            flat.extend(values)
        return True

    def _drop_last(self) -> None:
        self._ts.pop()
        self.tags.pop()
        for flat in self._flat:
            del flat[-self.levels :]

    def _padded(self, book: SideBook) -> tuple[list[int], list[float]]:
        """Top levels as (sort keys, sizes), padded with empty levels one key step apart."""
        keys, sizes = book.top_keys(self.levels)
        missing = self.levels - len(keys)
        if missing:
            keys = keys + [keys[-1] + i + 1 for i in range(missing)]
            sizes = sizes + [0.0] * missing
        return keys, sizes

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ts_ns (S,), bid_px (S, L) int64, bid_sz (S, L), ask_px (S, L) int64, ask_sz (S, L))."""
        shape = (len(self._ts), self.levels)
        ts = np.array(self._ts, dtype=np.int64)
        bid_key, ask_px = (np.array(self._flat[k], dtype=np.int64).reshape(shape) for k in (0, 2))
        bid_sz, ask_sz = (np.array(self._flat[k], dtype=np.float64).reshape(shape) for k in (1, 3))
        return ts, -bid_key, bid_sz, ask_px, ask_sz
