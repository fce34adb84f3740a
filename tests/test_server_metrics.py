"""Stage timings: folded histograms equal a direct count, percentiles, and the Prometheus text."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.metrics import BUCKETS_S, STAGES, RequestCounts, ServerCollector, StageTimings


def random_stamps(n: int, seed: int = 0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Stamp rows as a request records them, and the stage times (seconds, total last) they stand for."""
    ns = np.random.default_rng(seed).lognormal(np.log(50e3), 1.0, (n, len(STAGES) - 1)) * scale
    stamps = np.concatenate([np.zeros((n, 1)), np.cumsum(ns.astype(np.int64), 1)], 1).astype(np.int64) + 10**12
    times = np.diff(stamps, axis=1) * 1e-9
    return stamps, np.column_stack([times, times.sum(1)])


def test_folded_buckets_equal_a_direct_count_across_ring_wraps():
    timings = StageTimings(capacity=64)
    stamps, rows = random_stamps(1000)
    for i, row in enumerate(stamps):
        timings.record(row.tolist())
        if i % 97 == 0:
            timings.fold()
    timings.fold()
    edges = np.array(BUCKETS_S)
    for s in range(len(STAGES)):
        direct = [(rows[:, s] <= le).sum() for le in edges]
        assert np.cumsum(timings.bucket_counts[s])[:-1].tolist() == direct
        assert timings.bucket_counts[s].sum() == len(rows)
    np.testing.assert_allclose(timings.sums, rows.sum(0))


def test_percentiles_are_over_the_most_recent_window():
    timings = StageTimings(capacity=100)
    for row in random_stamps(50, seed=1, scale=1000)[0]:  # old and slow
        timings.record(row.tolist())
    stamps, recent = random_stamps(100, seed=2)
    for row in stamps:
        timings.record(row.tolist())
    pct = timings.percentiles_us()
    assert set(pct) == set(STAGES)
    np.testing.assert_allclose(pct["total"]["p50"], np.percentile(recent[:, -1] * 1e6, 50), atol=0.06)
    assert pct["total"]["max"] == round(recent[:, -1].max() * 1e6, 1)
    assert StageTimings(8).percentiles_us() == {}


def test_collector_exposes_histograms_counters_and_model_info():
    timings = {"/v1/quote": StageTimings(16)}
    for row in random_stamps(40)[0]:
        timings["/v1/quote"].record(row.tolist())
    counts = RequestCounts()
    counts.responses[("/v1/quote", 200)] += 40
    counts.errors["stale_snapshot"] += 2
    registry = CollectorRegistry()
    gauges = {"model": {"name": "m", "version": "1"}, "in_flight": 3, "symbols": 7}
    registry.register(ServerCollector(lambda: timings, counts, lambda: gauges))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    hist = families["cmm_stage_latency_seconds"]
    total_count = [s.value for s in hist.samples if s.name.endswith("_count") and s.labels["stage"] == "total"]
    assert total_count == [40]
    first_bucket = [s for s in hist.samples if s.name.endswith("_bucket") and s.labels["le"] == "1e-05"]
    assert len(first_bucket) == len(STAGES)
    assert families["cmm_requests"].samples[0].value == 40
    assert families["cmm_errors"].samples[0].labels == {"code": "stale_snapshot"}
    assert families["cmm_model_info"].samples[0].labels == {"name": "m", "version": "1"}
    assert families["cmm_in_flight"].samples[0].value == 3 and families["cmm_symbols"].samples[0].value == 7
