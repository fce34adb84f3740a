"""`cmm data`: prepare canonical datasets from raw captures, and summarise them.

cmm data prepare --source bitstamp|binance|lobster [FILES...] --out FILE [--grid-ms 100] [--levels 10] [--tick T]
cmm data info FILE [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lob.dataset import DEFAULT_GRID_MS, DEFAULT_LEVELS

SOURCES = ("bitstamp", "binance", "lobster")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="prepare and inspect canonical order-book datasets")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="raw captures -> a canonical dataset (.npz)",
        description="bitstamp reads the sample of the installed ob-analytics package (no FILES); binance takes one "
        "capture or a chain (a file with a REST snapshot, then its continuations, in order); lobster takes a "
        "*_message_N.csv file and optionally its *_orderbook_N.csv.",
    )
    prepare.add_argument("--source", required=True, choices=SOURCES, help="the raw data's format")
    prepare.add_argument("files", nargs="*", type=Path, metavar="FILES", help="raw files (not for bitstamp)")
    prepare.add_argument("--out", required=True, type=Path, help="dataset file to write (.npz; written atomically)")
    prepare.add_argument("--grid-ms", type=float, default=DEFAULT_GRID_MS, help="snapshot grid step in ms")
    prepare.add_argument("--levels", type=int, default=DEFAULT_LEVELS, help="book levels per side")
    prepare.add_argument("--tick", type=float, help="price tick (default: inferred from the prices)")
    prepare.set_defaults(func=prepare_command)
    info = actions.add_parser("info", help="statistics of a canonical dataset")
    info.add_argument("file", type=Path, help="dataset file (.npz) written by `cmm data prepare`")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=info_command)


def prepare_command(args: argparse.Namespace) -> int:
    from cmm.cli import CLIError
    from lob.dataset import save
    from lob.grid import SnapshotOptions

    options = SnapshotOptions(levels=args.levels, grid_ms=args.grid_ms, tick=args.tick)
    if args.source == "bitstamp":
        from lob.bitstamp import read_bitstamp

        if args.files:
            raise CLIError("--source bitstamp reads the installed ob-analytics sample: give no FILES")
        ds = read_bitstamp(options)
    elif not args.files:
        raise CLIError(f"--source {args.source} needs FILES")
    elif args.source == "binance":
        from lob.binance import read_binance

        ds = read_binance(args.files, options)
    else:
        from lob.lobster import read_lobster

        ds = read_lobster(args.files, options)
    save(ds, args.out)
    print(
        f"{args.out}: {ds.n} snapshots of {ds.symbol} ({ds.venue}) every {ds.grid_ns / 1e6:g} ms, "
        f"{ds.levels} levels, tick {ds.tick:g}, {len(ds.trades)} trades"
    )
    return 0


def info_command(args: argparse.Namespace) -> int:
    from lob.dataset import load
    from lob.info import dataset_info, format_info

    info = dataset_info(load(args.file))
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
