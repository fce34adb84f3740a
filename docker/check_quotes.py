"""Checks of a running quote server for `make container-test`: are its quotes sane, and how fast is one quote?

    python docker/check_quotes.py log --log QUOTES.jsonl --data DATASET.npz [--min-quotes N]
    python docker/check_quotes.py latency --url http://127.0.0.1:PORT --data DATASET.npz [--count 1000]

`log` reads the quote log of a replay (`cmm loadtest --log`, loadtest/replay.py) and checks every line against
the snapshot it answered: status ok, bid < ask, and post-only (the bid below the snapshot's best ask, the ask above
its best bid). `latency` sends real snapshots one at a time on one keep-alive connection (each request after the
previous reply), checks each quote the same way, and prints the round-trip percentiles as one JSON line.
Both exit 1 with the first problems named.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import orjson

from loadtest import http
from loadtest.options import parse_target
from loadtest.payloads import QuotePayloads
from lob.dataset import Dataset, load

MAX_LISTED = 5  # problems printed before giving up


def quote_problems(response: dict, ds: Dataset, row: int) -> list[str]:
    """What is wrong with one quote answering snapshot `row` of `ds` (prices in currency); [] when nothing."""
    bid, ask = response.get("bid_px"), response.get("ask_px")
    best_bid, best_ask = int(ds.bid_px[row, 0]), int(ds.ask_px[row, 0])
    problems = []
    if bid is None and ask is None:
        problems.append("neither side quoted")
    if bid is not None and ask is not None and not bid < ask:
        problems.append(f"bid {bid} not below ask {ask}")
    if bid is not None and round(bid / ds.tick) >= best_ask:
        problems.append(f"bid {bid} would take the best ask {best_ask * ds.tick:.10g} (not post-only)")
    if ask is not None and round(ask / ds.tick) <= best_bid:
        problems.append(f"ask {ask} would take the best bid {best_bid * ds.tick:.10g} (not post-only)")
    return problems


def check_log(path: Path, ds: Dataset) -> tuple[int, list[str]]:
    """(quotes checked, problems) for a replay's quote log."""
    problems: list[str] = []
    count = 0
    with path.open("rb") as lines:
        for n, line in enumerate(lines, 1):
            entry = orjson.loads(line)
            count += 1
            if entry["status"] != "ok" or not isinstance(entry["response"], dict):
                problems.append(f"{path}:{n}: status {entry['status']}, response {entry['response']!r:.200}")
                continue
            problems += [f"{path}:{n}: {p}" for p in quote_problems(entry["response"], ds, entry["row"])]
    return count, problems


async def _sequential(url: str, payloads: QuotePayloads, count: int, warmup: int) -> tuple[np.ndarray, list[str]]:
    target = parse_target(url)
    conn = http.Connection(target)
    latencies = np.empty(count, np.int64)
    problems: list[str] = []
    try:
        for k in range(warmup + count):
            raw = http.post_json(target, "/v1/quote", payloads.body(k, time.time_ns()))
            t0 = time.perf_counter_ns()
            response = await conn.request(raw)
            elapsed = time.perf_counter_ns() - t0
            if k >= warmup:
                latencies[k - warmup] = elapsed
            if response.status != 200:
                problems.append(f"request {k}: HTTP {response.status}: {response.body[:200]!r}")
            else:
                problems += [
                    f"request {k}: {p}"
                    for p in quote_problems(orjson.loads(response.body), payloads.ds, payloads.locate(k)[1])
                ]
    finally:
        conn.close()
    return latencies, problems


def sequential_latency(url: str, ds: Dataset, count: int, warmup: int = 100) -> tuple[dict, list[str]]:
    """Round-trip percentiles (us) of `count` sequential quote requests after `warmup` unrecorded ones."""
    if count < 1 or warmup < 0:
        raise ValueError(f"count must be >= 1 and warmup >= 0, got {count} and {warmup}")
    payloads = QuotePayloads(ds, symbols=1)
    latencies, problems = asyncio.run(_sequential(url, payloads, count, warmup))
    us = latencies / 1000.0
    stats = {"count": count, **{f"p{p}_us": round(float(np.percentile(us, p)), 1) for p in (50, 90, 99)}}
    stats["max_us"] = round(float(us.max()), 1)
    return stats, problems


def _report(problems: list[str]) -> int:
    for line in problems[:MAX_LISTED]:
        print(f"check_quotes: {line}", file=sys.stderr)
    if len(problems) > MAX_LISTED:
        print(f"check_quotes: ... and {len(problems) - MAX_LISTED} more", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check_quotes.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="check", required=True)
    log = sub.add_parser("log", help="check a replay's quote log")
    log.add_argument("--log", type=Path, required=True)
    log.add_argument("--data", type=Path, required=True)
    log.add_argument("--min-quotes", type=int, default=1, help="fewer logged quotes is a failure")
    lat = sub.add_parser("latency", help="time sequential quote requests")
    lat.add_argument("--url", required=True)
    lat.add_argument("--data", type=Path, required=True)
    lat.add_argument("--count", type=int, default=1000)
    lat.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args(argv)
    ds = load(args.data)
    if args.check == "log":
        count, problems = check_log(args.log, ds)
        if count < args.min_quotes:
            problems.append(f"{args.log}: {count} quotes logged, expected at least {args.min_quotes}")
        print(orjson.dumps({"quotes": count, "problems": len(problems)}).decode())
        return _report(problems)
    stats, problems = sequential_latency(args.url, ds, args.count, args.warmup)
    print(orjson.dumps({**stats, "problems": len(problems)}).decode())
    return _report(problems)


if __name__ == "__main__":
    sys.exit(main())
