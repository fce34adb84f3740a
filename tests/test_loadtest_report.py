"""Table and JSON carry the same numbers; histograms round-trip through the JSON."""

import orjson
from hdrh.histogram import HdrHistogram

from loadtest.client import RunResult
from loadtest.options import LoadOptions
from loadtest.report import ramp_table, run_summary, run_table, write_json
from loadtest.stats import KindStats, new_histogram


def _result() -> RunResult:
    quote, health = KindStats(), KindStats()
    for i in range(1000):
        quote.record(0, 0, (i + 1) * 1000, None)  # 1 us .. 1 ms
        health.record(0, 0, 200_000, None)
    quote.sent = 1003
    quote.record(0, 0, 0, "timeout")
    quote.record(0, 0, 0, "503")
    quote.record(0, 0, 0, "503")
    health.sent = 1000
    lag = new_histogram()
    lag.record_value(50)
    opts = LoadOptions(url="http://127.0.0.1:1", rate=500, duration_s=2, floor=True)
    return RunResult(opts, {"quote": quote, "healthz": health}, lag, measured_s=2.0)


def test_summary_numbers():
    s = run_summary(_result())
    q = s["kinds"]["quote"]
    assert (q["sent"], q["ok"], q["errors"], q["errors_by_kind"]) == (1003, 1000, 3, {"503": 2, "timeout": 1})
    assert q["achieved_rate"] == 500.0
    assert abs(q["latency_ms"]["p50"] - 0.5) < 0.001 and abs(q["latency_ms"]["max"] - 1.0) < 0.001
    assert s["options"]["rate"] == 500 and s["options"]["floor"] is True
    hist = HdrHistogram.decode(q["hdr_latency_us"])
    assert hist.get_total_count() == 1000 and hist.get_value_at_percentile(99) == 990


def test_table_shows_the_summary(tmp_path):
    s = run_summary(_result())
    table = run_table(s)
    quote_row = next(line for line in table.splitlines() if line.startswith("quote "))
    assert quote_row.split() == ["quote", "1003", "1000", "3", "500.0", "0.500", "0.900", "0.990", "0.999", "1.000"]
    assert "errors (quote): 503 x2, timeout x1" in table and "healthz" in table
    write_json(tmp_path / "out" / "run.json", s)
    assert orjson.loads((tmp_path / "out" / "run.json").read_bytes())["kinds"]["quote"]["sent"] == 1003


def test_ramp_table():
    step = run_summary(_result())
    ramp = {
        "slo_ms": 5.0,
        "steps": [{"rate": 100.0, "held": True, **step}, {"rate": 200.0, "held": False, **step}],
        "highest_rate_held": 100.0,
        "stopped": "stopped at 200 req/s (3 errors)",
    }
    lines = ramp_table(ramp).splitlines()
    assert lines[1].split()[-1] == "yes" and lines[2].split()[-1] == "no"
    assert "highest rate with p99 <= 5 ms and no errors: 100 req/s; stopped at 200 req/s (3 errors)" in lines[-1]
