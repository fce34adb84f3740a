"""LOBSTER files (`TICKER_DATE_START_END_message_N.csv` + `..._orderbook_N.csv`) -> canonical dataset.

message columns:   time (s after midnight, New York), type, order id, size, price (USD x 10000), direction
orderbook columns: ask px, ask size, bid px, bid size for levels 1..N (the book after each message);
                   an empty level has price 9999999999 (ask) / -9999999999 (bid) and size 0.
Timestamps: the file name's date at midnight America/New_York (LOBSTER's exchange time) plus the
message time, as ns since the Unix epoch. Trades are the visible (4) and hidden (5) executions;
the direction is the resting order's, so executing a buy limit order (1) is a seller-initiated trade.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from lob import grid
from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset, source_entry
from lob.grid import DEFAULT_OPTIONS, SnapshotOptions
from lob.ticks import gcd_units, to_ticks

PRICE_SCALE = 10_000  # LOBSTER prices are USD x 10000
EMPTY_ASK, EMPTY_BID = 9_999_999_999, -9_999_999_999
SUBMIT, CANCEL, DELETE, EXECUTE_VISIBLE, EXECUTE_HIDDEN, CROSS, HALT = 1, 2, 3, 4, 5, 6, 7
MESSAGE_TYPES = {SUBMIT, CANCEL, DELETE, EXECUTE_VISIBLE, EXECUTE_HIDDEN, CROSS, HALT}
MESSAGE_COLUMNS = ("time", "type", "order_id", "size", "price", "direction")
EXCHANGE_TZ = ZoneInfo("America/New_York")
NAME = re.compile(
    r"^(?P<ticker>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv$"
)


def read_lobster(paths: list[str | Path], options: SnapshotOptions = DEFAULT_OPTIONS) -> Dataset:
    """Read one LOBSTER pair; give both files, or just the message file (its orderbook file is its sibling)."""
    message_path, book_path, name = _pair(paths)
    file_levels = int(name["levels"])
    msg = _load(message_path, len(MESSAGE_COLUMNS), "at least")
    book = _load(book_path, 4 * file_levels, "exactly")
    if len(msg) != len(book):
        raise ValueError(f"{book_path}: {len(book)} rows but {message_path.name} has {len(msg)} (one book per message)")
    kinds = msg[:, 1].astype(np.int64)
    bad = ~np.isin(kinds, list(MESSAGE_TYPES))
    if bad.any():
        raise ValueError(f"{message_path}:{int(np.argmax(bad)) + 1}: unknown message type {kinds[bad][0]}")
    if np.any(np.diff(msg[:, 0]) < 0):
        raise ValueError(f"{message_path}:{int(np.argmax(np.diff(msg[:, 0]) < 0)) + 2}: time goes backwards")
    ask_px, ask_sz, bid_px, bid_sz = (book[:, k::4][:, : options.levels] for k in range(4))
    ask_ok, bid_ok = (ask_px != EMPTY_ASK) & (ask_sz > 0), (bid_px != EMPTY_BID) & (bid_sz > 0)
    is_trade = np.isin(kinds, [EXECUTE_VISIBLE, EXECUTE_HIDDEN])
    tick_units = _tick_units(options, np.concatenate([ask_px[ask_ok], bid_px[bid_ok], msg[is_trade, 4]]))
    where = f"{book_path} (prices in 1/{PRICE_SCALE} USD)"
    state_ts = _midnight_ns(name["date"]) + np.rint(msg[:, 0] * 1e9).astype(np.int64)
    bid_t, bid_s = _side(bid_px, bid_sz, bid_ok, tick_units, +1, options.levels, where)
    ask_t, ask_s = _side(ask_px, ask_sz, ask_ok, tick_units, -1, options.levels, where)
    one_sided = ~bid_ok[:, 0] | ~ask_ok[:, 0]
    crossed = ~one_sided & (bid_t[:, 0] >= ask_t[:, 0])
    clean = ~one_sided & ~crossed
    ts, idx = grid.sample(state_ts[clean], options.grid_ns)
    trades = np.empty(int(is_trade.sum()), TRADE_DTYPE)
    trades["ts_ns"] = state_ts[is_trade]
    trades["px"] = to_ticks(msg[is_trade, 4], tick_units, f"{message_path} (prices in 1/{PRICE_SCALE} USD)")
    trades["sz"] = msg[is_trade, 3]
    trades["side"] = np.where(msg[is_trade, 5] > 0, SELL, BUY)
    trades, outside = grid.trades_in_span(trades, ts, options.grid_ns)
    report = {
        "timestamps": "message time after midnight America/New_York",
        "tick_source": "given" if options.tick else "inferred",
        "messages": len(msg),
        "file_levels": file_levels,
        "halts": int((kinds == HALT).sum()),
        "states": int(clean.sum()),
        "states_skipped": {"one_sided": int(one_sided.sum()), "crossed": int(crossed.sum())},
        "longest_quiet_ms": grid.longest_quiet_ms(state_ts[clean]),
        "snapshots": len(ts),
        "trades": len(trades),
        "trades_outside_span": outside,
    }
    pick = np.flatnonzero(clean)[idx]
    return Dataset(
        symbol=name["ticker"],
        venue="lobster",
        tick=tick_units / PRICE_SCALE,
        grid_ns=options.grid_ns,
        ts_ns=ts,
        bid_px=bid_t[pick],
        bid_sz=bid_s[pick],
        ask_px=ask_t[pick],
        ask_sz=ask_s[pick],
        trades=trades,
        has_trades=True,
        sources=[source_entry(message_path), source_entry(book_path)],
        report=report,
    ).validate()


def _pair(paths: list[str | Path]) -> tuple[Path, Path, dict[str, str]]:
    """The (message, orderbook) files and the fields of their name."""
    paths = [Path(p) for p in paths]
    if not 1 <= len(paths) <= 2:
        raise ValueError(f"lobster: give one message file and optionally its orderbook file, got {len(paths)} files")
    found: dict[str, Path] = {}
    for p in paths:
        m = NAME.match(p.name)
        if m is None:
            raise ValueError(f"{p}: not a LOBSTER file name (TICKER_YYYY-MM-DD_START_END_message|orderbook_N.csv)")
        found[m["kind"]] = p
    if "message" not in found:
        raise ValueError(f"lobster: no *_message_N.csv among {[str(p) for p in paths]}")
    message_path = found["message"]
    name = NAME.match(message_path.name).groupdict()
    book_path = found.get("orderbook", message_path.with_name(message_path.name.replace("_message_", "_orderbook_")))
    if {**NAME.match(book_path.name).groupdict(), "kind": "message"} != name:
        raise ValueError(f"{book_path}: does not match {message_path.name} (same ticker, date, times, levels)")
    for p in (message_path, book_path):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such LOBSTER file")
    return message_path, book_path, name


def _load(path: Path, columns: int, rule: str) -> np.ndarray:
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    if len(rows) == 0:
        raise ValueError(f"{path}: no rows")
    width = rows.shape[1]
    if width < columns or (rule == "exactly" and width != columns):
        raise ValueError(f"{path}: {width} columns, expected {rule} {columns}")
    return rows


def _tick_units(options: SnapshotOptions, prices: np.ndarray) -> int:
    if options.tick is None:
        return gcd_units(np.rint(prices).astype(np.int64))
    units = options.tick * PRICE_SCALE
    if abs(units - round(units)) > 1e-9 or round(units) < 1:
        raise ValueError(f"tick {options.tick} is not a whole number of LOBSTER price units (1/{PRICE_SCALE} USD)")
    return round(units)


def _side(
    px: np.ndarray, sz: np.ndarray, ok: np.ndarray, tick_units: int, side: int, levels: int, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """One side in ticks, padded to `levels`: absent levels one tick beyond the last present one."""
    n, have = px.shape
    out_px = np.zeros((n, levels), np.int64)
    out_sz = np.zeros((n, levels), np.float64)
    out_px[:, :have] = np.where(ok, to_ticks(np.where(ok, px, 0.0), tick_units, where), 0)
    out_sz[:, :have] = np.where(ok, sz, 0.0)
    depth = np.zeros((n, levels), bool)
    depth[:, :have] = np.cumprod(ok, axis=1).astype(bool)  # present levels form a prefix
    count = depth.sum(axis=1)
    last = out_px[np.arange(n), np.maximum(count - 1, 0)]
    steps = np.arange(levels)[None, :] - count[:, None] + 1
    out_px = np.where(depth, out_px, last[:, None] - side * steps)
    out_sz = np.where(depth, out_sz, 0.0)
    return out_px, out_sz


def _midnight_ns(day: str) -> int:
    d = date.fromisoformat(day)
    return int(datetime(d.year, d.month, d.day, tzinfo=EXCHANGE_TZ).timestamp()) * 1_000_000_000
