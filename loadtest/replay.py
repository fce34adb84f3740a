"""Replay a dataset into `POST /v1/quote` like a trading engine, logging every quote and its latency.

Each answered quote becomes one JSON line: `{"seq", "symbol", "row", "ts_ns", "latency_us", "status",
"response"}` where `row` is the dataset snapshot sent, `status` is "ok" or the error's name, and
`response` is the server's JSON reply (null when there was none). The run is the same open-loop run
as `cmm loadtest`, so the latencies are measured from each request's intended send time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import orjson

from loadtest.client import Completion, run_sync
from loadtest.options import LoadOptions
from loadtest.payloads import QuotePayloads
from loadtest.report import run_summary
from lob.dataset import Dataset


def quote_logger(out: BinaryIO, payloads: QuotePayloads) -> Callable[[Completion], None]:
    """A callback writing one JSON line per completed quote request to `out`."""

    def log(done: Completion) -> None:
        sym, row = payloads.locate(done.seq)
        try:
            response = orjson.loads(done.body) if done.body else None
        except orjson.JSONDecodeError:
            response = done.body.decode("utf-8", "replace")
        line = {
            "seq": done.seq,
            "symbol": payloads.names[sym],
            "row": row,
            "ts_ns": done.ts_ns,
            "latency_us": round(done.latency_us, 1),
            "status": done.outcome or "ok",
            "response": response,
        }
        out.write(orjson.dumps(line) + b"\n")

    return log


def replay(
    url: str,
    dataset: Dataset,
    rate: float,
    duration_s: float,
    log_path: str | Path,
    symbols: int = 1,
    connections: int = 4,
    arrival: str = "constant",
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Replay `dataset` at `rate` quotes/s for `duration_s` into `url`; write the quote log; return the run summary."""
    opts = LoadOptions(
        url=url, rate=rate, duration_s=duration_s, symbols=symbols, connections=connections, arrival=arrival
    )
    payloads = QuotePayloads(dataset, symbols)
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        result = run_sync(opts, payloads, on_completion=quote_logger(out, payloads), progress=progress)
    return run_summary(result)
