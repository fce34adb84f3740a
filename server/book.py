"""A validated snapshot as a feature record: prices on the tick grid, sorted, not crossed, padded to L levels.

Record layout (lob.features): `[bid_px(L) | ask_px(L) | bid_sz(L) | ask_sz(L) | buy_vol | sell_vol]`,
prices in integer ticks. More levels than L are validated, then cut to L; fewer are padded like
`lob.dataset.pad_levels` (one tick further per level, size 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from lob.dataset import pad_levels
from server.errors import RequestError
from server.schemas import Snapshot

GRID_TOLERANCE = 1e-6  # in ticks: 61837.63 / 0.01 is 6183762.999999999
MAX_TICKS = float(1 << 53)  # beyond this a float price no longer names one tick


@dataclass(frozen=True)
class Book:
    record: np.ndarray  # (4L+2,) float64
    best_bid: int  # ticks
    best_ask: int
    tick: float


def resolve_tick(snap: Snapshot, instruments: dict[str, float], prefix: str = "") -> float:
    """The symbol's tick from the bundle, else from the request; a request tick must agree with the bundle's."""
    known = instruments.get(snap.symbol)
    if known is None:
        if snap.tick is None:
            raise RequestError(
                422,
                "unknown_tick",
                f"symbol {snap.symbol!r} is not among the bundle's instruments: give its price tick in 'tick'",
                f"{prefix}tick",
            )
        return snap.tick
    if snap.tick is not None and abs(snap.tick - known) > 1e-12 * known:
        raise RequestError(
            422,
            "tick_mismatch",
            f"tick {snap.tick} differs from the bundle's {known} for {snap.symbol}",
            f"{prefix}tick",
        )
    return known


def _check_grid(prices: np.ndarray, tick: float, snap: Snapshot, prefix: str) -> np.ndarray:
    """Both sides' prices (bids then asks) in integer ticks; refuse the first price off the grid."""
    scaled = prices / tick
    ticks = np.rint(scaled)
    if np.abs(scaled - ticks).max() > GRID_TOLERANCE:
        i = int((np.abs(scaled - ticks) > GRID_TOLERANCE).argmax())
        name, j = ("bids", i) if i < len(snap.bids) else ("asks", i - len(snap.bids))
        raise RequestError(
            422, "off_tick", f"price {prices[i]} is not on the tick grid ({tick})", f"{prefix}{name}[{j}][0]"
        )
    return ticks


def _check_order(ticks: np.ndarray, n_bids: int, prefix: str) -> None:
    """Bids strictly decreasing, asks strictly increasing from the best."""
    bids, asks = ticks[:n_bids], ticks[n_bids:]
    for name, bad, order in (
        ("bids", bids[1:] >= bids[:-1], "decreasing"),
        ("asks", asks[1:] <= asks[:-1], "increasing"),
    ):
        if bad.any():
            raise RequestError(
                422,
                "unsorted_levels",
                f"{name} prices must be strictly {order} from the best",
                f"{prefix}{name}[{int(bad.argmax()) + 1}][0]",
            )


def to_book(snap: Snapshot, tick: float, levels: int, max_levels: int, prefix: str = "") -> Book:
    """Validate `snap` and build its record; raises RequestError (422) naming the field at fault."""
    for name, side in (("bids", snap.bids), ("asks", snap.asks)):
        if len(side) > max_levels:
            raise RequestError(
                422, "too_many_levels", f"{len(side)} levels, at most {max_levels} a side", f"{prefix}{name}"
            )
    flat = chain.from_iterable(chain(snap.bids, snap.asks))
    levels_in = np.fromiter(flat, np.float64, 2 * (len(snap.bids) + len(snap.asks))).reshape(-1, 2)  # price, size
    ticks = _check_grid(levels_in[:, 0], tick, snap, prefix)
    n_bids = len(snap.bids)
    _check_order(ticks, n_bids, prefix)
    if ticks[0] >= MAX_TICKS or ticks[-1] >= MAX_TICKS:  # sorted: the extremes are the first bid and last ask
        raise RequestError(
            422,
            "price_out_of_range",
            "prices beyond 2^53 ticks",
            f"{prefix}bids" if ticks[0] >= MAX_TICKS else f"{prefix}asks",
        )
    ticks = ticks.astype(np.int64)
    best_bid, best_ask = int(ticks[0]), int(ticks[n_bids])
    if best_bid >= best_ask:
        raise RequestError(
            422,
            "crossed_book",
            f"best bid {snap.bids[0][0]} >= best ask {snap.asks[0][0]}: the book is crossed or locked",
            f"{prefix}asks[0][0]",
        )
    buy = sum(size for _, size, side in snap.trades if side == "buy")
    sell = sum(size for _, size, side in snap.trades if side == "sell")
    record = np.empty(4 * levels + 2, np.float64)
    sizes = levels_in[:, 1]
    record[:levels], record[2 * levels : 3 * levels] = pad_levels(ticks[:n_bids], sizes[:n_bids], levels, +1)
    record[levels : 2 * levels], record[3 * levels : 4 * levels] = pad_levels(
        ticks[n_bids:], sizes[n_bids:], levels, -1
    )
    record[-2:] = buy, sell
    return Book(record=record, best_bid=best_bid, best_ask=best_ask, tick=tick)
