"""The quote path: body bytes -> snapshot(s) -> state -> features -> model -> quoting rule -> body bytes.

Every stage is timed (see `server.metrics.STAGES`). Everything that can refuse a request (parse,
book checks, stale snapshots) runs before the first state change, so a refused request changes nothing.
Quotes are computed in ticks by `lob.quoting.make_quote` (one snapshot) or `make_quotes` (a batch) and
returned in currency units; a side that is not quoted (size 0, e.g. at the inventory limit) has a null price
and size 0.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

import numpy as np
import orjson

from lob.quoting import Quote, QuoteParams, make_quote, make_quotes
from server.book import Book, resolve_tick, to_book
from server.errors import RequestError, parse_body
from server.metrics import StageTimings
from server.runtime import ModelRuntime
from server.schemas import BatchRequest, QuoteOverrides, QuoteRequest, Snapshot
from server.settings import Settings
from server.state import SymbolStates

RISK_LIMITS = ("max_inventory", "max_size")  # overrides may lower these, never raise them


@lru_cache(maxsize=256)
def price_decimals(step: float) -> int:
    """Decimals that show multiples of `step` exactly: 0.01 -> 2, 0.5 -> 1, 5.0 -> 0."""
    for d in range(13):
        if abs(round(step, d) - step) <= 1e-12 * max(step, 1.0):
            return d
    return 12


@lru_cache(maxsize=256)
def decimal_step(step: float) -> tuple[int, float]:
    """(m, 10^d) with step = m / 10^d exactly in decimal: k * m / 10^d is then the float nearest the decimal
    k * step, so JSON shows 61837.62 rather than 61837.619999999995, without `round(x, d)`'s cost."""
    d = price_decimals(step)
    return round(step * 10**d), float(10**d)


class QuoteService:
    def __init__(self, runtime: ModelRuntime, settings: Settings):
        self.settings = settings
        self.params = settings.quote_params()
        self.runtime = runtime
        self.states = self._new_states(runtime)
        self.timings = {route: StageTimings(settings.stats_window) for route in ("/v1/quote", "/v1/quotes")}

    def _new_states(self, runtime: ModelRuntime) -> SymbolStates:
        return SymbolStates(runtime.levels, self.settings.max_symbols, int(self.settings.max_gap_ms * 1e6))

    def swap(self, runtime: ModelRuntime) -> None:
        """Serve `runtime` from now on; windows survive when the record layout is unchanged."""
        states = self.states if runtime.levels == self.runtime.levels else self._new_states(runtime)
        self.runtime, self.states = runtime, states

    def quote_params(self, overrides: QuoteOverrides | None) -> QuoteParams:
        if overrides is None:
            return self.params
        changes = overrides.model_dump(exclude_none=True)
        for name in RISK_LIMITS:
            if name in changes and changes[name] > getattr(self.params, name):
                limit = getattr(self.params, name)
                raise RequestError(
                    422,
                    "override_out_of_bounds",
                    f"{name} {changes[name]} above the server's {limit}",
                    f"params.{name}",
                )
        try:
            return self.params.with_overrides(changes)
        except ValueError as err:
            raise RequestError(422, "invalid_params", str(err), "params") from err

    def _book(self, runtime: ModelRuntime, snap: Snapshot, prefix: str = "") -> Book:
        tick = resolve_tick(snap, runtime.ticks, prefix)
        book = to_book(snap, tick, runtime.levels, self.settings.max_levels, prefix)
        self.states.check(snap.symbol, snap.ts_ns, prefix)
        return book

    def quote(self, body: bytes, t0: int) -> bytes:
        """One snapshot in, one quote out; `t0` is perf_counter_ns when the request arrived."""
        runtime, states = self.runtime, self.states
        req = parse_body(QuoteRequest, body)
        t_parse = time.perf_counter_ns()
        params = self.quote_params(req.params)
        book = self._book(runtime, req)
        t_valid = time.perf_counter_ns()
        window = states.push(req.symbol, req.ts_ns, book.tick, book.record)
        t_state = time.perf_counter_ns()
        x = window.features()
        t_feat = time.perf_counter_ns()
        mid_change, spread, log_volume = runtime.predict_one(x)
        t_infer = time.perf_counter_ns()
        quote = make_quote(book.best_bid, book.best_ask, mid_change, spread, log_volume, req.inventory, params)
        t_quote = time.perf_counter_ns()
        out = _quote_dict(req, book.tick, quote, spread, log_volume, window.warm, params.lot)
        out["model"] = runtime.model_id
        stamps = [t0, t_parse, t_valid, t_state, t_feat, t_infer, t_quote]
        return self._finish(out, stamps, self.timings["/v1/quote"])

    def quote_batch(self, body: bytes, t0: int) -> bytes:
        """Many snapshots (distinct symbols) in, one quote each, through one inference."""
        runtime, states = self.runtime, self.states
        req = parse_body(BatchRequest, body)
        t_parse = time.perf_counter_ns()
        n = len(req.snapshots)
        if n > self.settings.max_batch:
            raise RequestError(
                422, "too_many_snapshots", f"{n} snapshots, at most {self.settings.max_batch}", "snapshots"
            )
        params = self.quote_params(req.params)
        seen: set[str] = set()
        books = []
        for i, snap in enumerate(req.snapshots):
            prefix = f"snapshots[{i}]."
            if snap.symbol in seen:
                raise RequestError(422, "duplicate_symbol", f"{snap.symbol} appears twice", f"{prefix}symbol")
            seen.add(snap.symbol)
            books.append(self._book(runtime, snap, prefix))
        t_valid = time.perf_counter_ns()
        windows = [states.push(s.symbol, s.ts_ns, b.tick, b.record) for s, b in zip(req.snapshots, books, strict=True)]
        t_state = time.perf_counter_ns()
        x = np.array([window.features() for window in windows], np.float32)
        t_feat = time.perf_counter_ns()
        pred = runtime.predict(x)
        t_infer = time.perf_counter_ns()
        best_bid = np.array([b.best_bid for b in books], np.int64)
        best_ask = np.array([b.best_ask for b in books], np.int64)
        inventory = np.array([s.inventory for s in req.snapshots], np.float64)
        quotes = make_quotes(best_bid, best_ask, pred.mid_change, pred.spread, pred.volume, inventory, params)
        t_quote = time.perf_counter_ns()
        rows = zip(
            req.snapshots, books, windows, quotes.rows(), pred.spread.tolist(), pred.volume.tolist(), strict=True
        )
        out = {
            "quotes": [_quote_dict(s, b.tick, q, sp, vol, w.warm, params.lot) for s, b, w, q, sp, vol in rows],
            "model": runtime.model_id,
        }
        stamps = [t0, t_parse, t_valid, t_state, t_feat, t_infer, t_quote]
        return self._finish(out, stamps, self.timings["/v1/quotes"])

    @staticmethod
    def _finish(out: dict, stamps: list[int], timings: StageTimings) -> bytes:
        """Serialise, then splice `latency_us` (request bytes to response bytes) into the JSON object."""
        body = orjson.dumps(out)
        end = time.perf_counter_ns()
        stamps.append(end)
        timings.record(stamps)
        return b'%s,"latency_us":%d}' % (body[:-1], (end - stamps[0]) // 1000)


def _quote_dict(
    snap: Snapshot, tick: float, q: Quote, spread: float, log_volume: float, warm: bool, lot: float
) -> dict:
    tick_m, tick_10 = decimal_step(tick)
    lot_m, lot_10 = decimal_step(lot)
    fine = tick_10 * 1000.0  # predictions: three decimals finer than the tick
    bid_sz = round(q.bid_sz / lot) * lot_m / lot_10
    ask_sz = round(q.ask_sz / lot) * lot_m / lot_10
    return {
        "symbol": snap.symbol,
        "ts_ns": snap.ts_ns,
        "bid_px": q.bid_tick * tick_m / tick_10 if bid_sz > 0 else None,
        "bid_sz": bid_sz,
        "ask_px": q.ask_tick * tick_m / tick_10 if ask_sz > 0 else None,
        "ask_sz": ask_sz,
        "fair_px": round(q.fair_tick * tick * fine) / fine,
        "spread_pred": round(spread * tick * fine) / fine,
        "volume_pred": round(math.expm1(min(max(log_volume, 0.0), 50.0)) * 1e6) / 1e6,
        "warm": warm,
    }
