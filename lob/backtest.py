"""Replay a dataset step by step and fill a strategy's quotes conservatively.

Assumptions (stated, since they drive every number downstream):
- our quotes never move the market: the recorded book and trades replay unchanged;
- a quote decided from snapshot t (with the inventory as of ts[t]) is live from ts[t] + latency
  until the next decision goes live; at each decision it is re-posted through `make_quotes`;
- fills are conservative: a resting bid at b fills in full when a seller-aggressor trade prints
  strictly below b, or when the best ask of a snapshot reaches b (the opposite touch moves through it);
  at b itself it fills only with the traded size left after the queue ahead is consumed.
  The queue ahead is the displayed size at b when the quote went live (kept while the price
  stays the same), consumed by trades at b and capped by the displayed size at b at each snapshot
  (hftbacktest's risk-averse queue model). The best bid at b alone (a touch) never fills. Asks mirror this;
- a fill never takes |inventory| past `max_inventory`; maker fee on every fill;
- at the episode end the position is flattened at the touch as a taker (half the spread and the taker fee).

PnL accounting (currency = ticks x tick): a fill during step s (in (ts[s-1], ts[s]]) is marked against
mid[s-1], so exactly  EPnL = spread part + inventory part - fees  with
spread part = sum_i side_i (mid[s_i - 1] - px_i) size_i  and  inventory part = sum_s q_s (mid[s] - mid[s-1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lob.dataset import SELL, Dataset
from lob.quoting import QuoteParams, Quotes, make_quotes

FILL_DTYPE = np.dtype(
    [("row", "<i8"), ("ref_row", "<i8"), ("side", "i1"), ("px", "<f8"), ("sz", "<f8"), ("fee", "<f8"), ("taker", "?")]
)  # row: dataset row of the step holding the fill; ref_row: the snapshot it is marked against
QUOTE_CHUNK = 128  # decisions computed at once for one inventory level


@dataclass(frozen=True)
class Fees:
    """Fees in basis points of the notional (negative maker fee = rebate)."""

    maker_bps: float = 0.0
    taker_bps: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.maker_bps) and np.isfinite(self.taker_bps)) or self.taker_bps < 0:
            raise ValueError(f"invalid fees: maker {self.maker_bps} bps, taker {self.taker_bps} bps")


@dataclass(frozen=True)
class StrategyInputs:
    """What a strategy feeds `make_quotes` at each step of one episode (arrays of the episode length).

    The reserve price also moves by -skew_per_unit * q ticks (a per-step inventory skew such as
    Avellaneda-Stoikov's, passed to the rule as part of the predicted mid change); `active` False
    means no quote at that step (e.g. no prediction available).
    """

    mid_change: np.ndarray
    spread: np.ndarray
    log_volume: np.ndarray
    skew_per_unit: np.ndarray
    active: np.ndarray


@dataclass(frozen=True)
class EpisodeResult:
    start: int  # dataset rows [start, stop)
    stop: int
    tick: float
    mid: np.ndarray  # (n,) ticks
    spread: np.ndarray  # (n,) ticks
    inventory: np.ndarray  # (n,) base units, after the events of each step
    equity: np.ndarray  # (n,) currency, marked to mid, fees paid; equity[0] = 0
    two_sided: np.ndarray  # (n,) bool: both sides live with size > 0 at the snapshot
    quoted_bid: np.ndarray  # (n,) size decided at each step (0: not quoted)
    quoted_ask: np.ndarray
    bid_hit: np.ndarray  # (n,) bool: the bid decided at that step got a fill
    ask_hit: np.ndarray
    fills: np.ndarray  # FILL_DTYPE, in time order; the flatten (if any) last, taker=True
    epnl: float  # after the flatten
    spread_pnl: float
    inventory_pnl: float
    fees: float


def episode_bounds(ts_ns: np.ndarray, rows: np.ndarray, minutes: float) -> list[tuple[int, int]]:
    """Consecutive chunks of `minutes` over the sorted, contiguous dataset rows `rows`.

    A trailing chunk shorter than half an episode is dropped (too short to compare).
    """
    if minutes <= 0:
        raise ValueError(f"episode length must be positive, got {minutes} min")
    if len(rows) < 2:
        return []
    if np.any(np.diff(rows) != 1):
        raise ValueError("episode rows must be contiguous")
    span = int(minutes * 60e9)
    t = ts_ns[rows]
    cut = np.searchsorted(t, np.arange(t[0], t[-1] + 1, span), side="left")
    edges = list(cut) + [len(rows)]
    out = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b - a >= 2 and t[b - 1] - t[a] >= span // 2:
            out.append((int(rows[a]), int(rows[b - 1]) + 1))
    return out


def _displayed(px_row: np.ndarray, sz_row: np.ndarray, price: int, side: int) -> float:
    """Size shown at `price` on one side of a snapshot (side +1 bids, -1 asks; 0 when no level is there)."""
    depth = int(side * (px_row[0] - price))  # ticks behind the touch
    if depth < 0:  # better than the touch: nobody ahead
        return 0.0
    if depth < len(px_row) and px_row[depth] == price:  # a book without gaps
        return float(sz_row[depth])
    hit = np.flatnonzero(px_row == price)
    return float(sz_row[hit[0]]) if len(hit) else 0.0


class _Replay:
    """Mutable state of one episode replay (internal: `run_episode` is the interface)."""

    def __init__(
        self,
        ds: Dataset,
        start: int,
        stop: int,
        inputs: StrategyInputs,
        params: QuoteParams,
        latency_ns: int,
        fees: Fees,
    ):
        n = stop - start
        self.ds, self.start, self.n, self.inputs, self.params, self.fees = ds, start, n, inputs, params, fees
        self.bb = ds.bid_px[start:stop, 0]
        self.ba = ds.ask_px[start:stop, 0]
        self.mid = (self.bb + self.ba) / 2.0
        ts = ds.ts_ns[start:stop]
        live_from = ts + latency_ns
        self.snap_live = np.searchsorted(live_from, ts, side="left") - 1  # last decision with live_from < ts[s]
        self.act_snap = np.searchsorted(ts, live_from, side="right") - 1  # book known when decision t goes live
        lo, hi = np.searchsorted(ds.trades["ts_ns"], [ts[0], ts[-1]], side="right")
        self.trades = ds.trades[lo:hi]
        self.trade_step = np.searchsorted(ts, self.trades["ts_ns"], side="left")
        self.trade_live = np.searchsorted(live_from, self.trades["ts_ns"], side="left") - 1
        self.trade_px, self.trade_sz = self.trades["px"].tolist(), self.trades["sz"].tolist()
        self.trade_sell = (self.trades["side"] == SELL).tolist()
        self.q_bid = np.zeros(n, np.int64)
        self.q_ask = np.zeros(n, np.int64)
        self.q_bsz = np.zeros(n)
        self.q_asz = np.zeros(n)
        self.bid_hit = np.zeros(n, bool)
        self.ask_hit = np.zeros(n, bool)
        self.live = -1
        self.bid_queue = self.ask_queue = self.bid_left = self.ask_left = 0.0
        self.q = self.cash = self.fee_total = 0.0
        self.fills: list[tuple] = []
        self.cache: dict[tuple[int, float], Quotes] = {}

    def decide(self, s: int) -> None:
        """Quote for step s at the current inventory, from a cache of blocks computed by `make_quotes`."""
        if not self.inputs.active[s]:
            return
        block = s // QUOTE_CHUNK
        quotes = self.cache.get((block, self.q))
        if quotes is None:
            a, b = block * QUOTE_CHUNK, min((block + 1) * QUOTE_CHUNK, self.n)
            x = self.inputs
            quotes = make_quotes(
                self.bb[a:b],
                self.ba[a:b],
                x.mid_change[a:b] - x.skew_per_unit[a:b] * self.q,
                x.spread[a:b],
                x.log_volume[a:b],
                self.q,
                self.params,
            )
            self.cache[(block, self.q)] = quotes
        i = s - block * QUOTE_CHUNK
        self.q_bid[s], self.q_ask[s] = quotes.bid_tick[i], quotes.ask_tick[i]
        self.q_bsz[s], self.q_asz[s] = quotes.bid_sz[i], quotes.ask_sz[i]

    def activate(self, k: int) -> None:
        """Make decisions live up to k, keeping queue position where a side's price is unchanged."""
        for t in range(self.live + 1, k + 1):
            row = self.start + self.act_snap[t]
            # an order still resting at the same price keeps its place (an amended size keeps it too)
            keep_bid = self.live >= 0 and self.bid_left > 0 and self.q_bid[self.live] == self.q_bid[t]
            keep_ask = self.live >= 0 and self.ask_left > 0 and self.q_ask[self.live] == self.q_ask[t]
            if not keep_bid:
                self.bid_queue = _displayed(self.ds.bid_px[row], self.ds.bid_sz[row], self.q_bid[t], 1)
            if not keep_ask:
                self.ask_queue = _displayed(self.ds.ask_px[row], self.ds.ask_sz[row], self.q_ask[t], -1)
            self.bid_left, self.ask_left = self.q_bsz[t], self.q_asz[t]
            self.live = t

    def fill(self, side: int, px: float, size: float, s: int, taker: bool) -> float:
        room = self.params.max_inventory - side * self.q
        size = min(size, room)
        if size <= 1e-12:
            return 0.0
        notional = px * self.ds.tick * size
        fee = notional * (self.fees.taker_bps if taker else self.fees.maker_bps) * 1e-4
        self.q += side * size
        self.cash -= side * notional
        self.fee_total += fee
        ref = s - 1 if not taker else s
        self.fills.append((self.start + s, self.start + ref, side, px, size, fee, taker))
        if not taker:
            (self.bid_hit if side > 0 else self.ask_hit)[self.live] = True
        return size

    def on_trade(self, j: int, s: int) -> None:
        px, sz, sell = self.trade_px[j], self.trade_sz[j], self.trade_sell[j]
        if sell and self.bid_left > 0:  # sellers hit bids
            b = self.q_bid[self.live]
            if px < b:
                self.bid_left -= self.fill(+1, b, self.bid_left, s, False)
            elif px == b:
                excess = sz - self.bid_queue
                self.bid_queue = max(self.bid_queue - sz, 0.0)
                if excess > 0:
                    self.bid_left -= self.fill(+1, b, min(excess, self.bid_left), s, False)
        elif not sell and self.ask_left > 0:
            a = self.q_ask[self.live]
            if px > a:
                self.ask_left -= self.fill(-1, a, self.ask_left, s, False)
            elif px == a:
                excess = sz - self.ask_queue
                self.ask_queue = max(self.ask_queue - sz, 0.0)
                if excess > 0:
                    self.ask_left -= self.fill(-1, a, min(excess, self.ask_left), s, False)

    def on_snapshot(self, s: int) -> None:
        row = self.start + s
        if self.bid_left > 0:
            b = self.q_bid[self.live]
            if self.ba[s] <= b:
                self.bid_left -= self.fill(+1, b, self.bid_left, s, False)
            self.bid_queue = min(self.bid_queue, _displayed(self.ds.bid_px[row], self.ds.bid_sz[row], b, 1))
        if self.ask_left > 0:
            a = self.q_ask[self.live]
            if self.bb[s] >= a:
                self.ask_left -= self.fill(-1, a, self.ask_left, s, False)
            self.ask_queue = min(self.ask_queue, _displayed(self.ds.ask_px[row], self.ds.ask_sz[row], a, -1))


def run_episode(
    ds: Dataset,
    start: int,
    stop: int,
    inputs: StrategyInputs,
    params: QuoteParams,
    latency_ns: int,
    fees: Fees,
) -> EpisodeResult:
    """Replay dataset rows [start, stop) with a strategy's inputs (arrays of length stop - start)."""
    n = stop - start
    if not 0 <= start < stop <= ds.n or n < 2:
        raise ValueError(f"episode rows [{start}, {stop}) are not a range of at least 2 rows of {ds.symbol}")
    for name in ("mid_change", "spread", "log_volume", "skew_per_unit", "active"):
        if getattr(inputs, name).shape != (n,):
            raise ValueError(f"strategy input {name} has shape {getattr(inputs, name).shape}, expected {(n,)}")
    if latency_ns < 0:
        raise ValueError(f"latency must be >= 0, got {latency_ns} ns")
    r = _Replay(ds, start, stop, inputs, params, int(latency_ns), fees)
    inventory = np.zeros(n)
    cash = np.zeros(n)
    fee_paid = np.zeros(n)
    two_sided = np.zeros(n, bool)
    r.decide(0)
    j = 0
    for s in range(1, n):
        while j < len(r.trades) and r.trade_step[j] == s:
            if r.trade_live[j] > r.live:
                r.activate(r.trade_live[j])
            if r.live >= 0:
                r.on_trade(j, s)
            j += 1
        if r.snap_live[s] > r.live:
            r.activate(r.snap_live[s])
        if r.live >= 0:
            r.on_snapshot(s)
            two_sided[s] = r.q_bsz[r.live] > 0 and r.q_asz[r.live] > 0
        inventory[s], cash[s], fee_paid[s] = r.q, r.cash, r.fee_total
        if s < n - 1:
            r.decide(s)
    if r.q != 0:  # flatten at the touch as a taker
        side = -1 if r.q > 0 else 1
        r.fill(side, float(r.bb[-1] if side < 0 else r.ba[-1]), abs(r.q), n - 1, True)
    return _result(r, inventory, cash, fee_paid, two_sided)


def _result(r: _Replay, inventory, cash, fee_paid, two_sided) -> EpisodeResult:
    tick = r.ds.tick
    fills = np.array(r.fills, FILL_DTYPE) if r.fills else np.zeros(0, FILL_DTYPE)
    equity = cash + inventory * r.mid * tick - fee_paid
    ref_mid = r.ds.mid_ticks()[fills["ref_row"]] if len(fills) else np.zeros(0)
    spread_pnl = float(np.sum(fills["side"] * (ref_mid - fills["px"]) * fills["sz"]) * tick)
    inventory_pnl = float(np.sum(inventory[1:] * np.diff(r.mid)) * tick)
    return EpisodeResult(
        start=r.start,
        stop=r.start + r.n,
        tick=tick,
        mid=r.mid,
        spread=(r.ba - r.bb).astype(np.float64),
        inventory=inventory,
        equity=equity,
        two_sided=two_sided,
        quoted_bid=r.q_bsz,
        quoted_ask=r.q_asz,
        bid_hit=r.bid_hit,
        ask_hit=r.ask_hit,
        fills=fills,
        epnl=float(r.cash - r.fee_total),
        spread_pnl=spread_pnl,
        inventory_pnl=inventory_pnl,
        fees=float(r.fee_total),
    )
