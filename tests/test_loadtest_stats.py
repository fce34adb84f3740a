"""Per-kind recording: latency from the intended time, service from the send; failures only counted."""

import math

import numpy as np

from loadtest.stats import HIST_MAX_US, KindStats, new_histogram, percentiles_ms, record_us, values_at_percentiles


def test_latency_counts_from_intended_time_and_service_from_send():
    stats = KindStats()
    for i in range(100):
        intended = i * 1_000_000
        stats.record(intended, intended + 4_000_000, intended + 5_000_000, None)  # queued 4 ms, served in 1 ms
    lat, svc = percentiles_ms(stats.latency), percentiles_ms(stats.service)
    assert abs(lat["p50"] - 5.0) < 0.01 and abs(svc["p50"] - 1.0) < 0.01
    assert stats.ok == 100 and stats.error_count == 0 and stats.last_done_ns == 99_000_000 + 5_000_000


def test_errors_are_counted_by_name_and_stay_out_of_the_histograms():
    stats = KindStats()
    stats.record(0, 1, 2, "timeout")
    stats.record(0, 1, 3, "503")
    stats.record(0, 1, 4, "503")
    assert stats.errors == {"timeout": 1, "503": 2} and stats.error_count == 3 and stats.ok == 0
    assert stats.latency.get_total_count() == 0


def test_percentiles_are_ordered_and_nan_when_empty():
    hist = new_histogram()
    for us in range(1, 10_001):
        record_us(hist, us * 1000)
    p = percentiles_ms(hist)
    assert list(p) == ["p50", "p90", "p99", "p99.9", "max"]
    assert p["p50"] <= p["p90"] <= p["p99"] <= p["p99.9"] <= p["max"]
    assert abs(p["p99"] - 9.9) < 0.01 and abs(p["max"] - 10.0) < 0.01
    assert all(math.isnan(v) for v in percentiles_ms(new_histogram()).values())


def test_out_of_range_values_are_clamped():
    hist = new_histogram()
    record_us(hist, 0)
    record_us(hist, 10**15)
    assert hist.get_total_count() == 2 and hist.get_min_value() == 1
    assert hist.get_max_value() >= HIST_MAX_US * 0.999


def test_vectorised_percentiles_equal_the_library_s():
    hist = new_histogram()
    for v in np.random.default_rng(0).lognormal(6, 2, 3000).astype(np.int64):
        hist.record_value(int(min(max(v, 1), HIST_MAX_US)))
    pcts = np.array([0.01, 1, 25, 50, 90, 99, 99.9, 99.99, 100])
    assert values_at_percentiles(hist, pcts).tolist() == [hist.get_value_at_percentile(p) for p in pcts]
