"""Real quote requests for server tests and the server benchmark, replayed from a Binance capture.

A minimal book replay (REST snapshot, then depth diffs in update-id order; see the capture's README):
after each depth update the top `levels` of each side become one `/v1/quote` body, with the trades
seen since the previous one. Only for feeding the server; the pipeline's readers live in `lob/`.
"""

from __future__ import annotations

import gzip
import heapq
from pathlib import Path

import orjson


def binance_snapshots(path: Path, symbol: str, count: int, levels: int = 20) -> list[dict]:
    """The first `count` uncrossed snapshots of a capture as request bodies (prices as floats)."""
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    last_id = None
    trades: list[list] = []
    out: list[dict] = []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            doc = orjson.loads(line.split(" ", 1)[1])
            if "lastUpdateId" in doc:
                bids = {float(p): float(q) for p, q in doc["bids"]}
                asks = {float(p): float(q) for p, q in doc["asks"]}
                last_id = doc["lastUpdateId"]
                continue
            data = doc.get("data", {})
            if last_id is None:
                continue
            if data.get("e") == "trade":
                trades.append([float(data["p"]), float(data["q"]), "sell" if data["m"] else "buy"])
                continue
            if data.get("e") != "depthUpdate" or data["u"] <= last_id:
                continue
            for side, updates in ((bids, data["b"]), (asks, data["a"])):
                for p, q in updates:
                    if float(q) == 0:
                        side.pop(float(p), None)
                    else:
                        side[float(p)] = float(q)
            top_bids = heapq.nlargest(levels, bids.items())
            top_asks = heapq.nsmallest(levels, asks.items())
            ts_ns = data["E"] * 1_000_000
            if not top_bids or not top_asks or top_bids[0][0] >= top_asks[0][0] or (out and ts_ns <= out[-1]["ts_ns"]):
                continue
            out.append(
                {
                    "symbol": symbol,
                    "ts_ns": ts_ns,
                    "bids": [list(x) for x in top_bids],
                    "asks": [list(x) for x in top_asks],
                    "trades": trades,
                }
            )
            trades = []
            if len(out) >= count:
                break
    return out
