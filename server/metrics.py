"""Request counts and per-stage latencies: one row write per request, histograms folded in on scrape.

`prometheus_client.Histogram.observe` costs about 2 us, and a quote has 8 stages; here a request
writes one row of a numpy ring buffer. The rows not yet counted are folded into cumulative
Prometheus buckets (10 us x 2^k) by `fold`, called by the collector and before rows are overwritten.
The same ring gives `/v1/stats` its percentiles over the most recent requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

STAGES = ("parse", "validate", "state", "features", "infer", "quote", "serialize", "total")
BUCKETS_S = tuple(10e-6 * 2**k for k in range(14))  # 10 us .. 82 ms
PERCENTILES = (50, 90, 99, 99.9)


def stage_seconds(stamps: np.ndarray) -> np.ndarray:
    """(N, len(STAGES)) stamps in ns (the start, then the end of each stage) -> stage times and total, seconds."""
    return np.column_stack([np.diff(stamps, axis=1), stamps[:, -1] - stamps[:, 0]]) * 1e-9


class StageTimings:
    """The latest `capacity` requests' stage times, and cumulative histograms of all of them.

    A request records its raw stamps (one row write); times are worked out when read."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.ring = np.zeros((capacity, len(STAGES)), np.int64)  # stamps: start, end of each stage
        self.recorded = 0  # rows ever written
        self.folded = 0  # rows already in the histograms
        self.bucket_counts = np.zeros((len(STAGES), len(BUCKETS_S) + 1), np.int64)  # last: +Inf
        self.sums = np.zeros(len(STAGES), np.float64)

    def record(self, stamps: list[int]) -> None:
        """`stamps`: perf_counter_ns at the start and at the end of each stage, len(STAGES) of them."""
        if self.recorded - self.folded >= self.capacity:
            self.fold()
        self.ring[self.recorded % self.capacity] = stamps
        self.recorded += 1

    def fold(self) -> None:
        """Count the rows recorded since the last fold into the histograms."""
        idx = np.arange(self.folded, self.recorded) % self.capacity
        if len(idx):
            rows = stage_seconds(self.ring[idx])
            slots = np.searchsorted(BUCKETS_S, rows, side="left")  # bucket with le >= value
            for s in range(len(STAGES)):
                self.bucket_counts[s] += np.bincount(slots[:, s], minlength=len(BUCKETS_S) + 1)
            self.sums += rows.sum(0)
        self.folded = self.recorded

    def recent(self) -> np.ndarray:
        """Stage times (seconds) of the latest requests, (n, len(STAGES))."""
        return stage_seconds(self.ring[: min(self.recorded, self.capacity)])

    def percentiles_us(self) -> dict[str, dict[str, float]]:
        rows = self.recent() * 1e6
        if not len(rows):
            return {}
        pct = np.percentile(rows, PERCENTILES, axis=0)
        out = {}
        for s, stage in enumerate(STAGES):
            out[stage] = {f"p{p:g}": round(float(pct[i, s]), 1) for i, p in enumerate(PERCENTILES)}
            out[stage]["max"] = round(float(rows[:, s].max()), 1)
        return out


class RequestCounts:
    """Responses by (route, status), errors by code, and requests in flight now."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.responses: Counter[tuple[str, int]] = Counter()
        self.errors: Counter[str] = Counter()

    def as_dict(self) -> dict:
        return {
            "requests": sum(self.responses.values()),
            "by_route": {f"{route} {status}": n for (route, status), n in sorted(self.responses.items())},
            "errors": dict(sorted(self.errors.items())),
        }


class ServerCollector(Collector):
    """Prometheus view of the server: stage histograms, counters, model info and gauges."""

    def __init__(
        self, timings: Callable[[], dict[str, StageTimings]], counts: RequestCounts, gauges: Callable[[], dict]
    ):
        self.timings = timings  # -> {route: StageTimings}
        self.counts = counts
        self.gauges = gauges  # -> {"model": {name, version}, "in_flight": n, "symbols": n}

    def collect(self) -> Iterator:
        hist = HistogramMetricFamily(
            "cmm_stage_latency_seconds", "Server time per quote request, by route and stage", labels=["route", "stage"]
        )
        for route, timings in self.timings().items():
            timings.fold()
            for s, stage in enumerate(STAGES):
                cumulative = np.cumsum(timings.bucket_counts[s])
                buckets = [(f"{le:.6g}", int(c)) for le, c in zip(BUCKETS_S, cumulative[:-1], strict=True)]
                buckets.append(("+Inf", int(cumulative[-1])))
                hist.add_metric([route, stage], buckets, float(timings.sums[s]))
        yield hist
        requests = CounterMetricFamily("cmm_requests", "HTTP responses by route and status", labels=["route", "status"])
        for (route, status), n in self.counts.responses.items():
            requests.add_metric([route, str(status)], n)
        yield requests
        errors = CounterMetricFamily("cmm_errors", "Refused requests by error code", labels=["code"])
        for code, n in self.counts.errors.items():
            errors.add_metric([code], n)
        yield errors
        now = self.gauges()
        info = GaugeMetricFamily("cmm_model_info", "The model being served", labels=["name", "version"])
        info.add_metric([now["model"]["name"], now["model"]["version"]], 1)
        yield info
        yield GaugeMetricFamily("cmm_in_flight", "Requests in flight", value=now["in_flight"])
        yield GaugeMetricFamily("cmm_symbols", "Symbols with a window in memory", value=now["symbols"])
