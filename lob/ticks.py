"""Tick sizes: inferred from the prices in the data, and prices converted to integer ticks.

Inference is exact: decimal price strings are scaled to integers at the finest decimal scale
present, and the tick is the greatest common divisor of those integers. Conversion of the
(many) prices to ticks is vectorised in float64 and checked: a price off the tick grid is an
error naming where it came from, never silently rounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import numpy as np

# Allowed distance from the tick grid, in ticks: float64 parsing error is far below this for real prices.
OFF_GRID_ABS = 1e-6
OFF_GRID_REL = 1e-12


def gcd_units(units: np.ndarray) -> int:
    """The largest integer dividing every (non-zero) value of an integer array."""
    units = np.abs(np.asarray(units, dtype=np.int64))
    units = units[units > 0]
    if len(units) == 0:
        raise ValueError("cannot infer a tick size without any non-zero price")
    return int(np.gcd.reduce(units))


def infer_tick(prices: Iterable[str], where: str = "prices") -> float:
    """The tick size implied by decimal price strings, e.g. {"61837.63", "61837.6"} -> 0.01."""
    decimals = []
    for text in set(prices):
        try:
            value = Decimal(text).normalize()
        except InvalidOperation as err:
            raise ValueError(f"{where}: price {text!r} is not a number") from err
        if not value.is_finite():
            raise ValueError(f"{where}: price {text!r} is not finite")
        decimals.append(value)
    if not decimals:
        raise ValueError(f"{where}: cannot infer a tick size without any price")
    scale = max(0, max(-d.as_tuple().exponent for d in decimals))
    step = math.gcd(*(int(d.scaleb(scale)) for d in decimals))
    if step == 0:
        raise ValueError(f"{where}: cannot infer a tick size: every price is zero")
    return float(Decimal(step).scaleb(-scale))


def check_tick(tick: float) -> float:
    if not (math.isfinite(tick) and tick > 0):
        raise ValueError(f"tick must be a positive number, got {tick}")
    return float(tick)


def to_ticks(prices: np.ndarray, tick: float, where: str = "prices") -> np.ndarray:
    """Prices (float) -> int64 ticks; ValueError naming the first price that is off the tick grid."""
    scaled = np.asarray(prices, dtype=np.float64) / check_tick(tick)
    ticks = np.rint(scaled)
    off = ~np.isfinite(scaled) | (np.abs(scaled - ticks) > OFF_GRID_ABS + OFF_GRID_REL * np.abs(ticks))
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(f"{where}: price {prices[i]} is not a multiple of the tick {tick} ({int(off.sum())} such)")
    return ticks.astype(np.int64)


def tick_map(prices: Iterable[str], tick: float, where: str = "prices") -> dict[str, int]:
    """Each distinct decimal price string -> its price in ticks (one conversion per distinct string)."""
    texts = list(set(prices))
    try:
        values = np.array(texts, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    return dict(zip(texts, to_ticks(values, tick, where).tolist(), strict=True))
