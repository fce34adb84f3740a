"""The open-loop engine against a tiny in-process server: a stall is charged to every request it delays."""

import socket
import time

import pytest
from loadtest_fixtures import TinyServer, small_dataset

from loadtest.client import check_reachable, run_sync
from loadtest.options import LoadOptions
from loadtest.payloads import QuotePayloads
from loadtest.stats import percentiles_ms

RATE = 250.0
STALL_S = 0.2


@pytest.fixture(scope="module")
def payloads() -> QuotePayloads:
    return QuotePayloads(small_dataset(), symbols=3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stall_is_charged_to_every_request_scheduled_during_it(payloads):
    done = []
    with TinyServer(stall_at=int(RATE * 0.8), stall_s=STALL_S) as server:
        opts = LoadOptions(url=server.url, rate=RATE, duration_s=2.0, connections=4)
        result = run_sync(opts, payloads, on_completion=done.append)
        stall_start, stall_end = server.stall_window_ns
    quote = result.kinds["quote"]
    assert quote.sent == quote.ok == len(done) == 500 and quote.error_count == 0
    # Requests due during the stall: an open-loop client sends and times them all (a closed-loop one
    # with 4 connections would have issued only 4), and none can be answered before the stall ends.
    during = [d for d in done if stall_start <= d.ts_ns < stall_end]
    assert len(during) >= 0.8 * RATE * STALL_S
    for d in during:
        assert d.latency_us * 1e3 >= stall_end - d.ts_ns - 2e6  # 2 ms of slack between the two threads' clocks
    lat, svc = percentiles_ms(quote.latency), percentiles_ms(quote.service)
    assert lat["p99"] >= 0.75 * STALL_S * 1e3  # the top 1% (5 requests) were due early in the stall
    assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    # The closed-loop view of the same run (time from the actual send, as wrk reports) sees the stall
    # only on the few requests in flight when it began, so its p99 misses it.
    assert svc["p99"] < 0.5 * lat["p99"]


def test_unreachable_server_counts_errors_and_stops_by_itself(payloads):
    opts = LoadOptions(url=f"http://127.0.0.1:{_free_port()}", rate=200, duration_s=0.5, timeout_s=0.5)
    start = time.monotonic()
    result = run_sync(opts, payloads)
    assert time.monotonic() - start < 0.5 + 0.5 + 2.0
    quote = result.kinds["quote"]
    assert quote.sent == 100 and quote.ok == 0 and quote.errors == {"refused": 100}


def test_server_that_never_answers_times_out_and_the_run_is_bounded(payloads):
    with socket.socket() as listener:  # accepts connections (backlog), never reads or answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        opts = LoadOptions(url=url, rate=100, duration_s=0.5, connections=2, timeout_s=0.3)
        start = time.monotonic()
        result = run_sync(opts, payloads)
        elapsed = time.monotonic() - start
    quote = result.kinds["quote"]
    assert elapsed < 0.5 + 0.3 + 0.5 + 1.5  # schedule + timeout + drain grace + slack
    assert quote.sent == 50 and quote.ok == 0
    assert quote.errors["timeout"] >= 2 and sum(quote.errors.values()) == 50
    assert set(quote.errors) <= {"timeout", "unfinished"}


def test_floor_and_http_errors_are_counted_per_kind(payloads):
    with TinyServer(status=503) as server:
        result = run_sync(LoadOptions(url=server.url, rate=100, duration_s=0.5, floor=True), payloads)
    for kind in ("quote", "healthz"):
        stats = result.kinds[kind]
        assert stats.sent == 50 and stats.ok == 0 and stats.errors == {"503": 50}
        assert stats.latency.get_total_count() == 0  # failures never enter the latency histograms


def test_warmup_requests_are_sent_but_not_recorded(payloads):
    with TinyServer() as server:
        result = run_sync(LoadOptions(url=server.url, rate=100, duration_s=0.5, warmup_s=0.3), payloads)
        assert server.requests == 80
    quote = result.kinds["quote"]
    assert quote.sent == quote.ok == 50
    assert result.achieved_rate("quote") == pytest.approx(100, rel=0.25)


def test_check_reachable(payloads):
    with TinyServer() as server:
        check_reachable(LoadOptions(url=server.url, rate=1, duration_s=1))
    with TinyServer(status=500) as server, pytest.raises(ConnectionError, match="answered HTTP 500"):
        check_reachable(LoadOptions(url=server.url, rate=1, duration_s=1))
    with pytest.raises(ConnectionError, match="cannot reach"):
        check_reachable(LoadOptions(url=f"http://127.0.0.1:{_free_port()}", rate=1, duration_s=1, timeout_s=0.5))
