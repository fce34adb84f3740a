"""Plots are written from summaries (also read back from JSON); the percentile curve follows the histogram."""

import numpy as np

from loadtest.plot import percentile_curve, plot_ramp, plot_run
from loadtest.stats import new_histogram

PNG = b"\x89PNG\r\n\x1a\n"


def _kind(values_us) -> dict:
    hist = new_histogram()
    for v in values_us:
        hist.record_value(v)
    encoded = hist.encode().decode("ascii")
    p = {k: hist.get_value_at_percentile(q) / 1000 for k, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9))}
    return {
        "hdr_latency_us": encoded,
        "hdr_service_us": encoded,
        "latency_ms": {**p, "max": hist.get_max_value() / 1000},
    }


def test_percentile_curve_matches_the_histogram():
    hist = new_histogram()
    for v in range(1, 20_001):
        hist.record_value(v)
    x, y = percentile_curve(hist.encode().decode("ascii"))
    assert np.all(np.diff(y) >= 0) and x[0] == 1 and x[-1] == 1e4
    i = np.argmin(np.abs(x - 100))  # x = 100 is the 99th percentile
    assert abs(y[i] - 19.8) / 19.8 < 0.01
    for j in (0, 37, 100, 150, 199):  # the same values HdrHistogram itself gives
        assert y[j] == hist.get_value_at_percentile(100.0 * (1.0 - 1.0 / x[j])) / 1000.0


def test_run_and_ramp_plots_are_pngs(tmp_path):
    run = {
        "options": {"rate": 500, "duration_s": 2, "connections": 4},
        "kinds": {"quote": _kind(range(300, 3000)), "healthz": _kind(range(100, 900))},
    }
    assert plot_run(run, tmp_path / "run.png").read_bytes().startswith(PNG)
    steps = [{"rate": r, "kinds": {"quote": _kind(range(100, 100 + 10 * r))}} for r in (100, 200, 300)]
    ramp = {"slo_ms": 5.0, "steps": steps, "highest_rate_held": 200, "stopped": "stopped at 300 req/s"}
    path = plot_ramp(ramp, tmp_path / "sub" / "ramp.png")
    assert path.read_bytes().startswith(PNG) and path.stat().st_size > 10_000
