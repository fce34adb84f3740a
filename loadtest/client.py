"""The open-loop engine: a timer thread releases requests on schedule, keep-alive connections send them.

A request is due at its intended time whether or not its connection is free; if it is busy the request
waits in that connection's queue and its latency still counts from the intended time (no coordinated
omission). Each symbol's quotes go over one connection (symbol s on connection s mod C), so they reach
the server in order, as from a trading engine (the server refuses a snapshot older than the last). The timer
runs in its own thread with `time.sleep` (sub-millisecond wake-ups; asyncio timers round up to 1 ms)
and hands due requests to the event loop with `call_soon_threadsafe`. Every run stops by itself:
at the end of the schedule plus one request timeout, whatever is still unanswered counts as
`unfinished`, so `sent == ok + errors` always holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

from loadtest import http
from loadtest.options import LoadOptions
from loadtest.payloads import QuotePayloads
from loadtest.schedule import HEALTH, KIND_NAMES, QUOTE, Schedule, build_schedule
from loadtest.stats import KindStats, new_histogram, percentiles_ms, record_us

START_LEAD_NS = 50_000_000  # the first request is due this long after setup, so setup never counts
PROGRESS_EVERY_S = 1.0
PR_SET_TIMERSLACK = 29


@dataclass(frozen=True)
class Completion:
    """One answered (or failed) quote request, handed to `on_completion` (used by the replay log)."""

    seq: int  # index among quote requests (the payload index)
    ts_ns: int  # the intended send time in Unix ns (a quote request's ts_ns)
    latency_us: float  # from the intended send time
    outcome: str | None  # None for a 2xx response
    body: bytes


@dataclass
class RunResult:
    options: LoadOptions
    kinds: dict[str, KindStats]
    send_lag: HdrHistogram  # actual send - intended time, us: the queueing (and client) delay
    measured_s: float  # from the end of warm-up to the last answer

    def achieved_rate(self, kind: str) -> float:
        return self.kinds[kind].ok / self.measured_s if self.measured_s > 0 else 0.0


class _Run:
    """State of one run on the event loop (not thread-safe: only the loop thread touches it)."""

    def __init__(self, opts: LoadOptions, payloads: QuotePayloads, on_completion: Callable | None) -> None:
        self.opts = opts
        self.payloads = payloads
        self.on_completion = on_completion
        self.schedule: Schedule = build_schedule(
            opts.rate, opts.warmup_s + opts.duration_s, opts.max_requests, opts.arrival, opts.floor, opts.seed
        )
        self.seq = _index_within_kind(self.schedule.kind)
        self.warmup_ns = int(opts.warmup_s * 1e9)
        target = opts.target
        self.health_raw = http.get(target, "/healthz")
        self.quote_path = "/v1/quote"
        self.target = target
        self.kinds = {name: KindStats() for name in KIND_NAMES[: 2 if opts.floor else 1]}
        self.send_lag = new_histogram()
        self.queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(opts.connections)]
        self.lane = _lanes(self.schedule.kind, self.seq, opts.symbols, opts.connections)
        self.t0 = 0  # perf_counter_ns of the schedule's start
        self.epoch0 = 0  # the same instant in Unix ns: requests carry ts_ns = epoch0 + offset

    def start(self) -> None:
        now_perf, now_epoch = time.perf_counter_ns(), time.time_ns()
        self.t0 = now_perf + START_LEAD_NS
        self.epoch0 = now_epoch + START_LEAD_NS

    def dispatch(self, lo: int, hi: int) -> None:
        """Timer thread -> loop: requests lo..hi-1 are due now."""
        for k in range(lo, hi):
            self.queues[self.lane[k]].put_nowait(k)
            if self.schedule.offset_ns[k] >= self.warmup_ns:
                self.kinds[KIND_NAMES[self.schedule.kind[k]]].sent += 1

    async def worker(self, conn: http.Connection, queue: asyncio.Queue[int]) -> None:
        clock = time.perf_counter_ns
        while True:
            k = await queue.get()
            kind = int(self.schedule.kind[k])
            offset = int(self.schedule.offset_ns[k])
            intended = self.t0 + offset
            raw = (
                self.health_raw
                if kind == HEALTH
                else http.post_json(
                    self.target, self.quote_path, self.payloads.body(int(self.seq[k]), self.epoch0 + offset)
                )
            )
            sent = clock()
            response, outcome = await self._send(conn, raw)
            done = clock()
            if offset >= self.warmup_ns:
                record_us(self.send_lag, max(sent - intended, 0))
                self.kinds[KIND_NAMES[kind]].record(intended, sent, done, outcome)
                if self.on_completion is not None and kind == QUOTE:
                    latency_us = (done - intended) / 1e3
                    self.on_completion(
                        Completion(int(self.seq[k]), self.epoch0 + offset, latency_us, outcome, response)
                    )
            queue.task_done()

    async def _send(self, conn: http.Connection, raw: bytes) -> tuple[bytes, str | None]:
        try:
            async with asyncio.timeout(self.opts.timeout_s):
                response = await conn.request(raw)
        except TimeoutError:
            return b"", "timeout"
        except ConnectionRefusedError:
            return b"", "refused"
        except (http.ProtocolError, asyncio.LimitOverrunError):
            return b"", "protocol"
        except (OSError, asyncio.IncompleteReadError):
            return b"", "disconnected"
        return response.body, None if 200 <= response.status < 300 else str(response.status)

    def progress_line(self) -> str:
        elapsed = (time.perf_counter_ns() - self.t0 - self.warmup_ns) / 1e9
        q = self.kinds["quote"]
        phase = "warm-up" if elapsed < 0 else f"{elapsed:5.1f}s"
        p99 = percentiles_ms(q.latency)["p99"]
        return (
            f"[{phase}] quote sent {q.sent} ok {q.ok} errors {q.error_count} "
            f"p99 {p99:.2f} ms, queued {sum(q.qsize() for q in self.queues)}"
        )

    def finish(self) -> RunResult:
        for stats in self.kinds.values():
            unfinished = stats.sent - stats.ok - stats.error_count
            if unfinished > 0:
                stats.errors["unfinished"] += unfinished
        last = max(s.last_done_ns for s in self.kinds.values())
        measured = (last - self.t0 - self.warmup_ns) / 1e9 if last else 0.0
        return RunResult(self.opts, self.kinds, self.send_lag, max(measured, 0.0))


def _index_within_kind(kind: np.ndarray) -> np.ndarray:
    """For each request, how many requests of its kind come before it."""
    seq = np.empty(len(kind), np.int64)
    for value in np.unique(kind):
        mask = kind == value
        seq[mask] = np.arange(int(mask.sum()))
    return seq


def _fine_timer_slack() -> None:
    """Ask Linux to wake this thread within 1 ns of its sleep's end (the default slack is 50 us)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: keep the default slack
        ctypes.CDLL(None).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)


def _lanes(kind: np.ndarray, seq: np.ndarray, symbols: int, connections: int) -> np.ndarray:
    """The connection of each request: a quote's symbol's, a health check's in turn."""
    return np.where(kind == QUOTE, (seq % symbols) % connections, seq % connections).astype(np.int64)


def _timer(run: _Run, loop: asyncio.AbstractEventLoop, stop: threading.Event, done: Callable[[], None]) -> None:
    """Release requests at their intended times (runs in its own thread)."""
    _fine_timer_slack()
    offsets = run.schedule.offset_ns
    i, n = 0, len(offsets)
    try:
        while i < n and not stop.is_set():
            now = time.perf_counter_ns() - run.t0
            if offsets[i] > now:
                time.sleep(min((offsets[i] - now) / 1e9, 0.05))
                continue
            j = int(np.searchsorted(offsets, now, side="right"))
            loop.call_soon_threadsafe(run.dispatch, i, j)
            i = j
        loop.call_soon_threadsafe(done)
    except RuntimeError:  # the loop closed under us: the run was cancelled
        return


async def run_load(
    opts: LoadOptions,
    payloads: QuotePayloads,
    on_completion: Callable[[Completion], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run one open-loop load and return its statistics; stops after the schedule plus one timeout."""
    run = _Run(opts, payloads, on_completion)
    loop = asyncio.get_running_loop()
    schedule_done = asyncio.Event()
    stop = threading.Event()
    connections = [http.Connection(run.target) for _ in range(opts.connections)]
    workers = [asyncio.create_task(run.worker(c, q)) for c, q in zip(connections, run.queues, strict=True)]
    reporter = asyncio.create_task(_report_progress(run, progress)) if progress else None
    run.start()
    timer = threading.Thread(
        target=_timer, args=(run, loop, stop, schedule_done.set), name="loadtest-timer", daemon=True
    )
    timer.start()
    try:
        await schedule_done.wait()
        try:
            async with asyncio.timeout(opts.timeout_s + 0.5):
                await asyncio.gather(*(q.join() for q in run.queues))
        except TimeoutError:
            pass
    finally:
        stop.set()
        for task in [*workers, *([reporter] if reporter else [])]:
            task.cancel()
        await asyncio.gather(*workers, *([reporter] if reporter else []), return_exceptions=True)
        for c in connections:
            c.close()
        timer.join(timeout=1.0)
    result = run.finish()
    if progress:
        progress(run.progress_line())
    return result


async def _report_progress(run: _Run, progress: Callable[[str], None]) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        progress(run.progress_line())


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (a cheaper client leaves more CPU to the server), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_sync(
    opts: LoadOptions,
    payloads: QuotePayloads,
    on_completion: Callable[[Completion], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_load(opts, payloads, on_completion, progress))


def check_reachable(opts: LoadOptions) -> None:
    """One `GET /healthz` before a run; raises ConnectionError saying why the server cannot be loaded."""

    async def probe() -> http.Response:
        conn = http.Connection(opts.target)
        try:
            async with asyncio.timeout(opts.timeout_s):
                return await conn.request(http.get(opts.target, "/healthz"))
        finally:
            conn.close()

    try:
        response = asyncio.run(probe())
    except (OSError, TimeoutError, asyncio.IncompleteReadError, http.ProtocolError) as err:
        raise ConnectionError(f"{opts.url}: cannot reach the server ({type(err).__name__}: {err})") from err
    if not 200 <= response.status < 300:
        raise ConnectionError(f"{opts.url}/healthz answered HTTP {response.status}: {response.body[:200]!r}")
