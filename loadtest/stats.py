"""What a run records: per request kind, HdrHistograms of latency and counts of outcomes.

`latency` runs from the request's intended send time (the open-loop figure users should read);
`service` runs from the moment the request was written to its socket (what a closed-loop tool
would report). Both in microseconds, 1 us to 60 s at 3 significant digits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

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


def percentiles_ms(hist: HdrHistogram) -> dict[str, float]:
    """p50/p90/p99/p99.9 and max in milliseconds; NaN when nothing was recorded."""
    if hist.get_total_count() == 0:
        return {**{f"p{p:g}": float("nan") for p in PERCENTILES}, "max": float("nan")}
    out = {f"p{p:g}": hist.get_value_at_percentile(p) / 1000.0 for p in PERCENTILES}
    out["max"] = hist.get_max_value() / 1000.0
    return out
