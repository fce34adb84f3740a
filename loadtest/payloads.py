"""Quote request bodies replayed from a canonical dataset across N symbols.

Request k goes to symbol `k % N` and carries that symbol's `k // N`-th snapshot (wrapping around at
the end of the dataset), so each symbol sees the dataset's snapshots in time order and its
server-side window fills as in production. `ts_ns` is given by the caller: the load generator stamps
each request with its intended send time (Unix ns), as a live feed would, so timestamps increase per
symbol within a run and across runs against the same server (which refuses a stale one with 409).
Prices are sent in currency (`px * tick`); absent levels (size 0) are left out; trades are those of
the grid step ending at the snapshot.
"""

from __future__ import annotations

import math

import numpy as np
import orjson

from lob.dataset import BUY, Dataset


class QuotePayloads:
    """JSON bodies for `POST /v1/quote`; the book part of each snapshot is encoded once and cached."""

    def __init__(self, ds: Dataset, symbols: int, inventory: float = 0.0) -> None:
        if symbols < 1:
            raise ValueError(f"symbols must be >= 1, got {symbols}")
        if ds.n == 0:
            raise ValueError(f"dataset {ds.symbol}: no snapshots to replay")
        self.ds = ds
        self.symbols = symbols
        self.names = [f"{ds.symbol}-{i}" for i in range(symbols)]
        self._name_json = [orjson.dumps(name) for name in self.names]
        self._decimals = max(0, -math.floor(math.log10(ds.tick)) + 2)
        self._head_tail = b',"inventory":' + orjson.dumps(float(inventory)) + b',"tick":' + orjson.dumps(ds.tick)
        edges = np.concatenate([[ds.ts_ns[0] - ds.grid_ns], ds.ts_ns])
        self._trade_lo = np.searchsorted(ds.trades["ts_ns"], edges[:-1], side="right")
        self._trade_hi = np.searchsorted(ds.trades["ts_ns"], edges[1:], side="right")
        self._cache: dict[int, bytes] = {}

    def locate(self, k: int) -> tuple[int, int]:
        """Request k -> (symbol index, snapshot index)."""
        return k % self.symbols, (k // self.symbols) % self.ds.n

    def body(self, k: int, ts_ns: int) -> bytes:
        sym, row = self.locate(k)
        book = self._cache.get(row)
        if book is None:
            book = self._cache[row] = self._encode_book(row)
        return b'{"symbol":' + self._name_json[sym] + b',"ts_ns":' + str(ts_ns).encode() + self._head_tail + book

    def _encode_book(self, row: int) -> bytes:
        """`,"bids":[...],"asks":[...],"trades":[...]}` for one snapshot (the body's tail)."""
        ds = self.ds
        doc: dict = {
            "bids": self._side(ds.bid_px[row], ds.bid_sz[row]),
            "asks": self._side(ds.ask_px[row], ds.ask_sz[row]),
        }
        if ds.has_trades:
            tr = ds.trades[self._trade_lo[row] : self._trade_hi[row]]
            px = np.round(tr["px"] * ds.tick, self._decimals).tolist()
            sides = np.where(tr["side"] == BUY, "buy", "sell").tolist()
            doc["trades"] = [[p, s, side] for p, s, side in zip(px, tr["sz"].tolist(), sides, strict=True)]
        return b"," + orjson.dumps(doc)[1:]

    def _side(self, px: np.ndarray, sz: np.ndarray) -> list[list[float]]:
        present = sz > 0
        return np.column_stack([np.round(px[present] * self.ds.tick, self._decimals), sz[present]]).tolist()
