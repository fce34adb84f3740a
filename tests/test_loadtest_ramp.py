"""The ramp stops at the first step that misses the SLO or errs, and reports the last one that held."""

from loadtest_fixtures import TinyServer, small_dataset

from loadtest.options import LoadOptions, RampOptions
from loadtest.payloads import QuotePayloads
from loadtest.ramp import run_ramp


def test_ramp_runs_every_step_when_all_hold_and_stops_at_errors():
    payloads = QuotePayloads(small_dataset(), symbols=2)
    with TinyServer() as server:
        base = LoadOptions(url=server.url, rate=1, duration_s=0.3, timeout_s=0.5)
        ok = run_ramp(base, RampOptions(start=50, step=50, max_rate=150, slo_ms=1000.0), payloads)
        sent_per_step = [s["kinds"]["quote"]["sent"] for s in ok["steps"]]
        assert [s["rate"] for s in ok["steps"]] == [50, 100, 150] and sent_per_step == [15, 30, 45]
        assert all(s["held"] for s in ok["steps"]) and ok["highest_rate_held"] == 150
        # The server saw each symbol's timestamps increase, across the steps too (no 409 from a replay restart).
        assert len(server.quotes) == 90
        for sym in ("TESTUSDT-0", "TESTUSDT-1"):
            ts = [q["ts_ns"] for q in server.quotes if q["symbol"] == sym]
            assert len(ts) >= 44 and all(b > a for a, b in zip(ts, ts[1:], strict=False))
    with TinyServer(status=500) as server:
        base = LoadOptions(url=server.url, rate=1, duration_s=0.3, timeout_s=0.5)
        bad = run_ramp(base, RampOptions(start=50, step=50, max_rate=150), payloads)
    assert len(bad["steps"]) == 1 and bad["highest_rate_held"] is None
    assert bad["stopped"] == "stopped at 50 req/s (15 errors)"


def test_ramp_stops_when_p99_crosses_the_slo():
    payloads = QuotePayloads(small_dataset(), symbols=1)
    with TinyServer(stall_at=5, stall_s=0.15) as server:  # a stall in the first step: p99 > 50 ms there
        base = LoadOptions(url=server.url, rate=1, duration_s=0.4, timeout_s=0.5)
        ramp = run_ramp(base, RampOptions(start=100, step=100, max_rate=300, slo_ms=50.0), payloads)
    first = ramp["steps"][0]
    assert len(ramp["steps"]) == 1 and not first["held"] and ramp["highest_rate_held"] is None
    assert first["kinds"]["quote"]["latency_ms"]["p99"] > 50.0 and "p99" in ramp["stopped"]
