"""A validated snapshot as a feature record: prices on the tick grid, sorted, not crossed, padded to L levels.

Record layout (lob.features): `[bid_px(L) | ask_px(L) | bid_sz(L) | ask_sz(L) | buy_vol | sell_vol]`,
prices in integer ticks. More levels than L are validated, then cut to L; fewer are padded like
`lob.dataset.pad_levels` (one tick further per level, size 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.errors import RequestError
from server.schemas import Snapshot

GRID_TOLERANCE = 1e-6  # in ticks: 61837.63 / 0.01 is 6183762.999999999
MAX_TICKS = float(1 << 53)  # beyond this a float price no longer names one tick


@dataclass(frozen=True)
class Book:
    record: list[float]  # 4L+2 numbers, prices as int ticks
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


def _side(side: list, tick: float, levels: int, step: int, name: str, prefix: str) -> tuple[list[int], list[float]]:
    """One side's first `levels` prices (integer ticks) and sizes, padded like `lob.dataset.pad_levels` (one
    tick further per missing level, size 0). Every level is checked: on the grid, below 2^53 ticks, and
    strictly moving away from the best (`step` -1 for bids, +1 for asks)."""
    px: list[int] = []
    for j, (price, _) in enumerate(side):
        scaled = price / tick
        ticks = round(scaled) if scaled < MAX_TICKS else 0
        if ticks < 1 or abs(scaled - ticks) > GRID_TOLERANCE or (px and (ticks - px[-1]) * step <= 0):
            raise _refusal(price, tick, step, name, f"{prefix}{name}[{j}][0]")
        px.append(ticks)
    px, sz = px[:levels], [size for _, size in side[:levels]]
    missing = levels - len(px)
    if missing > 0:
        px += [px[-1] + step * k for k in range(1, missing + 1)]
        sz += [0.0] * missing
    return px, sz


def _refusal(price: float, tick: float, step: int, name: str, field: str) -> RequestError:
    """Why `_side` refused the level at `field`: out of range, off the grid, or out of order."""
    scaled = price / tick
    if scaled >= MAX_TICKS:
        return RequestError(422, "price_out_of_range", f"price {price} is beyond 2^53 ticks", field)
    if round(scaled) < 1 or abs(scaled - round(scaled)) > GRID_TOLERANCE:
        return RequestError(422, "off_tick", f"price {price} is not on the tick grid ({tick})", field)
    order = "decreasing" if step < 0 else "increasing"
    return RequestError(422, "unsorted_levels", f"{name} prices must be strictly {order} from the best", field)


def to_book(snap: Snapshot, tick: float, levels: int, max_levels: int, prefix: str = "") -> Book:
    """Validate `snap` and build its record; raises RequestError (422) naming the field at fault.

    Plain Python over the levels: with tens of levels, a dozen numpy calls cost more than the loop."""
    for name, side in (("bids", snap.bids), ("asks", snap.asks)):
        if len(side) > max_levels:
            raise RequestError(
                422, "too_many_levels", f"{len(side)} levels, at most {max_levels} a side", f"{prefix}{name}"
            )
    bid_px, bid_sz = _side(snap.bids, tick, levels, -1, "bids", prefix)
    ask_px, ask_sz = _side(snap.asks, tick, levels, +1, "asks", prefix)
    best_bid, best_ask = bid_px[0], ask_px[0]
    if best_bid >= best_ask:
        raise RequestError(
            422,
            "crossed_book",
            f"best bid {snap.bids[0][0]} >= best ask {snap.asks[0][0]}: the book is crossed or locked",
            f"{prefix}asks[0][0]",
        )
    buy = sell = 0.0
    for _, size, side in snap.trades:
        if side == "buy":
            buy += size
        else:
            sell += size
    record = [*bid_px, *ask_px, *bid_sz, *ask_sz, buy, sell]
    return Book(record=record, best_bid=best_bid, best_ask=best_ask, tick=tick)
