"""What a run records: per request kind, HdrHistograms of latency and counts of outcomes.

`latency` runs from the request's intended send time (the open-loop figure users should read);
`service` runs from the moment the request was written to its socket (what a closed-loop tool
would report). Both in microseconds, 1 us to 60 s at 3 significant digits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from hdrh.histogram import HdrHistogram

HIST_MAX_US = 60_000_000
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIST_MAX_US, 3)


def record_us(hist: HdrHistogram, ns: int) -> None:
    hist.record_value(min(max(ns // 1000, 1), HIST_MAX_US))


@dataclass
class KindStats:
    """Counts and histograms of one request kind ("quote" or "healthz") over the measured window."""

    latency: HdrHistogram = field(default_factory=new_histogram)
    service: HdrHistogram = field(default_factory=new_histogram)
    sent: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    last_done_ns: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def record(self, intended_ns: int, sent_ns: int, done_ns: int, outcome: str | None) -> None:
        """`outcome` None is a 2xx response; otherwise the error's name (HTTP status or failure kind)."""
        self.last_done_ns = max(self.last_done_ns, done_ns)
        if outcome is not None:
            self.errors[outcome] += 1
            return
        self.ok += 1
        record_us(self.latency, done_ns - intended_ns)
        record_us(self.service, done_ns - sent_ns)


def values_at_percentiles(hist: HdrHistogram, percentiles: np.ndarray) -> np.ndarray:
    """`hist.get_value_at_percentile` for many percentiles (0 < p <= 100) in one numpy pass.

    The library's version walks the counts array in Python on every call (milliseconds each, on the
    event loop that times the requests); this gives the same values.
    """
    counts = np.ctypeslib.as_array(hist.counts)[: hist.counts_len]
    index = np.flatnonzero(counts)
    cumulative = np.cumsum(counts[index])
    target = np.maximum((np.minimum(percentiles, 100.0) * hist.get_total_count() / 100.0 + 0.5).astype(np.int64), 1)
    at = index[np.minimum(np.searchsorted(cumulative, target), len(index) - 1)]
    return np.array([hist.get_highest_equivalent_value(hist.get_value_from_index(int(i))) for i in at], np.float64)


def percentiles_ms(hist: HdrHistogram) -> dict[str, float]:
    """p50/p90/p99/p99.9 and max in milliseconds; NaN when nothing was recorded."""
    if hist.get_total_count() == 0:
        return {**{f"p{p:g}": float("nan") for p in PERCENTILES}, "max": float("nan")}
    values = values_at_percentiles(hist, np.array(PERCENTILES)) / 1000.0
    out = {f"p{p:g}": float(v) for p, v in zip(PERCENTILES, values, strict=True)}
    out["max"] = hist.get_max_value() / 1000.0
    return out
