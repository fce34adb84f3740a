"""Binance market-data captures (spot, USD-M, COIN-M) -> canonical dataset.

Format (see ../shared/data/binance/README.md): gzip text, one `<local receive ns> <JSON>` per line.
A REST depth snapshot (`lastUpdateId`) appears somewhere in the first file, after a few depth
diffs; diffs seen before it are buffered, then everything is applied in update-id order:
  spot (no "pu"):        drop u <= lastUpdateId; the first applied has U <= lastUpdateId+1 <= u;
                         each later one has U == previous u + 1
  USD-M / COIN-M ("pu"): drop u < lastUpdateId; the first applied has U <= lastUpdateId <= u;
                         each later one has pu == previous u
Anything else is a sequence gap: a ValueError naming the file, line and ids. Several files are
one chain: a file without a snapshot continues the book of the file before it (same symbol,
ids continue).

Timestamps are the exchange's event times: "E" (ms) for depth diffs, "T" (ms) for trades; the
local receive time is not used (its clock is offset from the exchange's by about a second). The
book is read once per distinct event time. Trade "m" true (buyer is maker) means the aggressor sold.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lob import grid
from lob.book import ASK, BID, BookStates, SideBook
from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset, source_entry
from lob.grid import DEFAULT_OPTIONS, SnapshotOptions
from lob.ticks import infer_tick, tick_map

SKIPPED_STREAMS = ("@bookTicker", "@aggTrade", "@kline", "@markPrice", "@ticker", "@forceOrder")
MS = 1_000_000  # ns


Where = tuple[Path, int]  # (file, line)
Levels = list[tuple[str, float]]  # (price string, quantity)


@dataclass(frozen=True, slots=True)
class Snapshot:
    where: Where
    last_id: int  # lastUpdateId
    bids: Levels
    asks: Levels


@dataclass(frozen=True, slots=True)
class DepthEvent:
    where: Where
    ms: int  # E
    first: int  # U
    last: int  # u
    prev: int | None  # pu (futures only)
    bids: Levels
    asks: Levels


@dataclass
class Capture:
    """Everything parsed from the files, in file order, before prices become ticks."""

    events: list[Snapshot | DepthEvent] = field(default_factory=list)
    trades: list[tuple[int, str, float, int]] = field(default_factory=list)  # (T ms, price, qty, side)
    prices: set[str] = field(default_factory=set)
    symbol: str | None = None
    skipped: dict[str, int] = field(default_factory=lambda: {"other_streams": 0, "non_market_trades": 0})


def read_binance(paths: list[str | Path], options: SnapshotOptions = DEFAULT_OPTIONS) -> Dataset:
    """Read one capture, or a chain of captures of one symbol (a snapshot file then its continuations)."""
    paths = [Path(p) for p in paths]
    capture = parse_capture(paths)
    tick = options.tick or infer_tick(capture.prices, where=", ".join(map(str, paths)))
    ticks = tick_map(capture.prices, tick, where=", ".join(map(str, paths)))
    replay = Replay(options.levels, options.grid_ns, ticks)
    replay.run(capture.events)
    state_ts, bid_px, bid_sz, ask_px, ask_sz = replay.states.arrays()
    ts, idx = grid.sample(state_ts, options.grid_ns)
    trades = np.array([(t * MS, ticks[p], q, s) for t, p, q, s in capture.trades], dtype=TRADE_DTYPE)
    trades, outside = grid.trades_in_span(trades, ts, options.grid_ns)
    report = {
        "timestamps": "exchange event time: E (ms) for depth, T (ms) for trades",
        "tick_source": "given" if options.tick else "inferred",
        "market": replay.market,
        "files": len(paths),
        "depth_events_applied": replay.applied,
        "depth_events_dropped_before_snapshot": replay.dropped,
        "depth_event_times_backwards": replay.backwards,
        "first_update_id": replay.first_u,
        "last_update_id": replay.last_u,
        "lines_skipped": dict(capture.skipped),
        "states": replay.states.clean,
        "states_skipped": dict(replay.states.skipped),
        "longest_quiet_ms": grid.longest_quiet_ms(state_ts),
        "snapshots": len(ts),
        "trades": len(trades),
        "trades_outside_span": outside,
    }
    venue = _venue(replay.market, capture.symbol)
    return Dataset(
        symbol=capture.symbol,
        venue=venue,
        tick=tick,
        grid_ns=options.grid_ns,
        ts_ns=ts,
        bid_px=bid_px[idx],
        bid_sz=bid_sz[idx],
        ask_px=ask_px[idx],
        ask_sz=ask_sz[idx],
        trades=trades,
        has_trades=True,
        sources=[source_entry(p) for p in paths],
        report=report,
    ).validate()


def parse_capture(paths: list[Path]) -> Capture:
    """Parse a chain of capture files (the first must hold the REST snapshot) without applying anything."""
    if not paths:
        raise ValueError("binance: give at least one capture file")
    capture = Capture()
    for i, path in enumerate(paths):
        _parse_file(path, capture)
        if i == 0 and not any(isinstance(e, Snapshot) for e in capture.events):
            raise ValueError(
                f"{path}: no REST depth snapshot (lastUpdateId) in the first file of the chain; "
                "a continuation file must come after the file it continues"
            )
    return capture


def _venue(market: str, symbol: str) -> str:
    if market == "spot":
        return "binance-spot"
    return "binance-coinm" if "_" in symbol else "binance-usdm"  # COIN-M symbols: BTCUSD_PERP, BTCUSD_240927


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a gzip capture; a truncated or non-gzip file is a ValueError naming it."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such capture file")
    line = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line, text in enumerate(f, start=1):
                yield line, text
    except EOFError as err:
        raise ValueError(f"{path}: truncated gzip file (stream ends after line {line})") from err
    except (gzip.BadGzipFile, zlib.error, OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable gzip capture (after line {line}: {err})") from err


def _parse_file(path: Path, capture: Capture) -> None:
    for line, text in _lines(path):
        where = (path, line)
        head, sep, payload = text.partition(" ")
        if not sep or not head.isdigit():
            raise ValueError(f"{path}:{line}: expected '<receive ns> <json>', got {text[:60]!r}")
        if any(s in payload[:48] for s in SKIPPED_STREAMS):
            capture.skipped["other_streams"] += 1
            continue
        try:
            msg = json.loads(payload)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{line}: invalid JSON ({err.msg} at column {err.colno})") from err
        try:
            symbol = _parse_message(msg, where, capture)
        except (KeyError, TypeError, IndexError, ValueError) as err:
            raise ValueError(f"{path}:{line}: malformed message ({type(err).__name__}: {err})") from err
        if capture.symbol is None:
            capture.symbol = symbol
        elif symbol not in (None, capture.symbol):
            raise ValueError(f"{path}:{line}: symbol {symbol} differs from {capture.symbol} earlier in the chain")


def _parse_message(msg: dict, where: Where, capture: Capture) -> str | None:
    """Add one message to the capture; returns its symbol (None for a snapshot or an ignored stream)."""
    if "lastUpdateId" in msg:
        snapshot = Snapshot(where, int(msg["lastUpdateId"]), _levels(msg["bids"]), _levels(msg["asks"]))
        capture.prices.update(p for p, _ in snapshot.bids + snapshot.asks)
        capture.events.append(snapshot)
        return None
    data = msg.get("data", msg)  # combined streams wrap the event in {"stream", "data"}
    kind = data.get("e")
    if kind not in ("depthUpdate", "trade"):
        capture.skipped["other_streams"] += 1
        return None
    if kind == "trade":
        if data.get("X", "MARKET") != "MARKET":  # futures insurance-fund / ADL fills are not aggressor trades
            capture.skipped["non_market_trades"] += 1
            return data["s"]
        capture.prices.add(data["p"])
        capture.trades.append((int(data["T"]), data["p"], float(data["q"]), SELL if data["m"] else BUY))
        return data["s"]
    prev = int(data["pu"]) if "pu" in data else None
    event = DepthEvent(
        where, int(data["E"]), int(data["U"]), int(data["u"]), prev, _levels(data["b"]), _levels(data["a"])
    )
    capture.prices.update(p for p, _ in event.bids)
    capture.prices.update(p for p, _ in event.asks)
    capture.events.append(event)
    return data["s"]


def _levels(pairs: list) -> Levels:
    return [(p, float(q)) for p, q in pairs]


class Replay:
    """Applies the snapshot and depth diffs in update-id order and records the book per event time."""

    def __init__(self, levels: int, grid_ns: int, ticks: dict[str, int]) -> None:
        self.ticks = ticks
        self.bids, self.asks = SideBook(BID), SideBook(ASK)
        self.states = BookStates(levels, grid_ns)  # tagged with the last update id applied
        self.market: str | None = None
        self.snapshot: Snapshot | None = None
        self.pending: list[DepthEvent] = []
        self.last_u: int | None = None
        self.first_u: int | None = None
        self.current_ms: int | None = None
        self.applied = self.dropped = self.backwards = 0

    def run(self, events: list[Snapshot | DepthEvent]) -> None:
        for event in events:
            if isinstance(event, Snapshot):
                self._snapshot(event)
            elif self.snapshot is None:
                self.pending.append(event)
            else:
                self._depth(event)
        if self.current_ms is not None:
            self._record()

    def _record(self) -> None:
        self.states.record(self.current_ms * MS, self.bids, self.asks, tag=self.last_u)

    def _snapshot(self, snap: Snapshot) -> None:
        if self.snapshot is not None:
            raise ValueError(
                f"{_at(snap.where)}: a second REST snapshot in one chain (the first at {_at(self.snapshot.where)}); "
                "prepare each capture chain separately"
            )
        self.snapshot = snap
        self.bids.replace({self.ticks[p]: q for p, q in snap.bids})
        self.asks.replace({self.ticks[p]: q for p, q in snap.asks})
        pending, self.pending = self.pending, []
        for event in pending:
            self._depth(event)

    def _depth(self, ev: DepthEvent) -> None:
        market = "futures" if ev.prev is not None else "spot"
        if self.market is None:
            self.market = market
        elif market != self.market:
            raise ValueError(f"{_at(ev.where)}: a {market} depth event in a {self.market} capture")
        if self.last_u is None:
            if not self._first_applicable(ev):
                return
            self.first_u = ev.first
        else:
            self._check_continuous(ev)
        if self.current_ms is not None and ev.ms != self.current_ms:
            self._record()
            self.backwards += ev.ms < self.current_ms
        self.current_ms = ev.ms if self.current_ms is None else max(ev.ms, self.current_ms)
        ticks = self.ticks
        for p, q in ev.bids:
            self.bids.set(ticks[p], q)
        for p, q in ev.asks:
            self.asks.set(ticks[p], q)
        self.last_u = ev.last
        self.applied += 1

    def _first_applicable(self, ev: DepthEvent) -> bool:
        """Whether the first diffs after the snapshot apply (False: older than it, drop it)."""
        snap_id = self.snapshot.last_id
        spot = self.market == "spot"
        if (ev.last <= snap_id) if spot else (ev.last < snap_id):
            self.dropped += 1
            return False
        target = snap_id + 1 if spot else snap_id
        if ev.first <= target <= ev.last:
            return True
        raise ValueError(
            f"{_at(ev.where)}: sequence gap after the snapshot at {_at(self.snapshot.where)}: lastUpdateId={snap_id} "
            f"but the first newer depth event has U={ev.first} u={ev.last} (needs U <= {target} <= u)"
        )

    def _check_continuous(self, ev: DepthEvent) -> None:
        if ev.prev is None:
            ok, expected = ev.first == self.last_u + 1, f"U == previous u + 1 = {self.last_u + 1}"
        else:
            ok, expected = ev.prev == self.last_u, f"pu == previous u = {self.last_u}"
        if not ok:
            ids = f"U={ev.first} u={ev.last}" + (f" pu={ev.prev}" if ev.prev is not None else "")
            kind = "out-of-order or repeated update ids" if ev.last <= self.last_u else "sequence gap"
            raise ValueError(f"{_at(ev.where)}: {kind}: depth event {ids}, expected {expected}")


def _at(where: Where) -> str:
    return f"{where[0]}:{where[1]}"
