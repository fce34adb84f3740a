"""Real quote requests for server tests and the server benchmark, from a Binance capture.

The capture goes through the project's reader (`lob.binance.read_binance`: the canonical 100 ms grid,
10 levels) and the load tester's request encoder (`loadtest.payloads.QuotePayloads`), so the server
sees the same snapshots as the offline pipeline. Each request carries its snapshot's own exchange
time, shifted by the capture's span each time the replay wraps around.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from loadtest.payloads import QuotePayloads
from lob.binance import read_binance


def binance_requests(path: Path, count: int, symbols: int = 1) -> list[dict]:
    """`count` `/v1/quote` bodies; request k is for symbol `<SYMBOL>-<k % symbols>`, each symbol in time order."""
    ds = read_binance([path])
    payloads = QuotePayloads(ds, symbols)
    span = int(ds.ts_ns[-1] - ds.ts_ns[0]) + ds.grid_ns
    out = []
    for k in range(count):
        _, row = payloads.locate(k)
        wraps = (k // symbols) // ds.n
        out.append(orjson.loads(payloads.body(k, int(ds.ts_ns[row]) + wraps * span)))
    return out
