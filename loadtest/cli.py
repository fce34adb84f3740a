"""`cmm loadtest`: open-loop load against a quote server, at a fixed rate or as a ramp.

Latency counts from each request's intended send time (no coordinated omission). Loopback only
unless --allow-remote; every run is bounded by --duration, --max-requests and --timeout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "loadtest",
        help="open-loop load test of a quote server (latency from intended send times)",
        description="Replay a dataset's snapshots into POST /v1/quote on a fixed schedule and report latency "
        "percentiles measured from each request's intended send time.",
    )
    p.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (default %(default)s)")
    p.add_argument("--data", type=Path, required=True, help="canonical dataset (.npz) whose snapshots are replayed")
    p.add_argument("--rate", type=float, required=True, help="quote requests per second (with --ramp: the first step)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured per run or ramp step (default 10)")
    p.add_argument("--symbols", type=int, default=1, help="symbols the snapshots are replayed under (default 1)")
    p.add_argument(
        "--connections", type=int, default=4, help="keep-alive connections; each symbol's quotes use one (default 4)"
    )
    p.add_argument("--arrival", choices=("constant", "poisson"), default="constant", help="arrival process")
    p.add_argument("--floor", action="store_true", help="also send GET /healthz at the same rate: the transport floor")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds sent first and not recorded (default 1)")
    p.add_argument("--ramp", action="store_true", help="step the rate up until p99 > --slo-ms or errors appear")
    p.add_argument("--ramp-step", type=float, help="rate increment per ramp step (default: --rate)")
    p.add_argument("--ramp-max", type=float, help="highest ramp rate (default: 20 x --rate)")
    p.add_argument("--slo-ms", type=float, default=5.0, help="p99 objective of the ramp, ms (default 5)")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="cap on requests per run (default 1000000)")
    p.add_argument("--timeout", type=float, default=2.0, help="per-request timeout, seconds (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of Poisson arrivals")
    p.add_argument("--json", type=Path, help="write the numbers (and encoded histograms) to this JSON file")
    p.add_argument("--plot", type=Path, help="write a PNG: latency by percentile, or p99 against rate for a ramp")
    p.add_argument("--log", type=Path, help="write every quote and its latency as JSON lines (not with --ramp)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --url")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from cmm.cli import CLIError
    from loadtest.client import check_reachable
    from loadtest.options import LoadOptions, RampOptions
    from lob.dataset import load

    if args.ramp and args.log:
        raise CLIError("--log records one run; it cannot be combined with --ramp")
    opts = LoadOptions(
        url=args.url,
        rate=args.rate,
        duration_s=args.duration,
        symbols=args.symbols,
        connections=args.connections,
        arrival=args.arrival,
        floor=args.floor,
        warmup_s=args.warmup,
        max_requests=args.max_requests,
        timeout_s=args.timeout,
        seed=args.seed,
        allow_remote=args.allow_remote,
    )
    ramp = None
    if args.ramp:
        step = args.ramp_step if args.ramp_step is not None else args.rate
        ramp = RampOptions(args.rate, step, args.ramp_max if args.ramp_max is not None else 20 * args.rate, args.slo_ms)
    dataset = load(args.data)
    try:
        check_reachable(opts)
    except ConnectionError as err:
        raise CLIError(str(err)) from err
    progress = None if args.quiet else _progress
    if opts.symbols < opts.connections:
        print(
            f"note: {opts.symbols} symbol(s) on {opts.connections} connections: a symbol's quotes keep to one "
            f"connection (in order), so quotes use {opts.symbols}; raise --symbols to spread them",
            file=sys.stderr,
        )
    if ramp is not None:
        return _ramp(args, opts, ramp, dataset, progress)
    return _run(args, opts, dataset, progress)


def _run(args: argparse.Namespace, opts, dataset, progress) -> int:
    from cmm.cli import CLIError
    from loadtest.client import run_sync
    from loadtest.payloads import QuotePayloads
    from loadtest.plot import plot_run
    from loadtest.replay import quote_logger
    from loadtest.report import run_summary, run_table, write_json

    payloads = QuotePayloads(dataset, opts.symbols)
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        with args.log.open("wb") as out:
            result = run_sync(opts, payloads, on_completion=quote_logger(out, payloads), progress=progress)
    else:
        result = run_sync(opts, payloads, progress=progress)
    summary = run_summary(result)
    print(run_table(summary))
    _write_outputs(args, summary, write_json, plot_run)
    quote = summary["kinds"]["quote"]
    if quote["ok"] == 0:
        raise CLIError(f"no quote request succeeded ({quote['errors_by_kind']})")
    return 0


def _ramp(args: argparse.Namespace, opts, ramp, dataset, progress) -> int:
    from loadtest.payloads import QuotePayloads
    from loadtest.plot import plot_ramp
    from loadtest.ramp import run_ramp
    from loadtest.report import ramp_table, write_json

    result = run_ramp(opts, ramp, QuotePayloads(dataset, opts.symbols), progress)
    print(ramp_table(result))
    _write_outputs(args, result, write_json, plot_ramp)
    return 0


def _write_outputs(args: argparse.Namespace, doc: dict, write_json, plot) -> None:
    if args.json:
        write_json(args.json, doc)
        print(f"wrote {args.json}")
    if args.plot:
        print(f"wrote {plot(doc, args.plot)}")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
