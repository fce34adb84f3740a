"""`cmm evaluate`: backtest a model bundle against classic baselines on prepared datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="backtest a bundle's quotes against baselines (tuned on validation, scored on test)",
        description="Replay the test period of each dataset with conservative fills; every strategy is tuned on "
        "the validation period only. Prints a table; --json writes every metric, --plots the figures.",
    )
    p.add_argument(
        "--bundle",
        type=Path,
        help="model bundle directory (models/NAME); without it only the classic baselines and the oracle are "
        "scored (at the default horizon of lob.targets)",
    )
    p.add_argument("--data", required=True, nargs="+", type=Path, help="prepared datasets (.npz)")
    p.add_argument("--episodes-min", type=float, default=1.0, help="episode length in minutes (default 1)")
    p.add_argument("--latency-ms", type=float, default=10.0, help="quote latency before inference (default 10)")
    p.add_argument("--maker-bps", type=float, default=0.0, help="maker fee, bps of notional (default 0)")
    p.add_argument("--taker-bps", type=float, default=0.0, help="taker fee for the flatten (default 0)")
    p.add_argument(
        "--teacher",
        type=Path,
        help="the teacher, offline, on the rows with its forecasts: a teacher feature store DIR (`cmm teacher "
        "features`; its heads are fitted on training rows) or an .npz with `rows` (table rows) and `predictions` "
        "(rows, 3: mid_change, spread, volume)",
    )
    p.add_argument("--teacher-max-age", type=int, default=20, help="rows a teacher forecast stays usable")
    p.add_argument("--json", type=Path, help="write the full report here")
    p.add_argument("--plots", type=Path, help="write the figures into this directory")
    p.set_defaults(func=run)


def _manifest(bundle: Path) -> dict:
    import json

    path = bundle / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no manifest (is {bundle} a model bundle directory?)")
    manifest = json.loads(path.read_text())
    missing = {"horizon", "features"} - set(manifest)
    if missing:
        raise ValueError(f"{path}: manifest lacks {sorted(missing)}")
    return manifest


def _teacher(path: Path, datasets: list, market, horizon: int, max_age: int) -> tuple:
    """(predictions, active) over all table rows, from a teacher feature store or a forecast .npz."""
    import numpy as np

    from lob.strategies import partial_predictions

    if path.is_dir():
        from export.teacher_heads import teacher_forecast
        from export.teacher_store import load_store

        store = load_store(path)
        store.check_datasets(datasets, horizon)
        rows, values = store.rows, teacher_forecast(store, market.table)
    elif path.exists():
        with np.load(path) as z:
            if "rows" not in z or "predictions" not in z:
                raise ValueError(f"{path}: needs arrays `rows` and `predictions`, has {sorted(z.files)}")
            rows, values = z["rows"], z["predictions"]
    else:
        raise FileNotFoundError(f"{path}: no teacher feature store or forecast file there")
    return partial_predictions(len(market.table.row), rows, values, market.table.dataset_id, max_age)


def run(args: argparse.Namespace) -> int:
    from export.evaluate import EvalOptions, build_strategies, evaluate, model_predictions
    from export.evaluate_report import table, write_json
    from lob.dataset import load
    from lob.strategies import Market
    from lob.table import build_table
    from lob.targets import DEFAULT_HORIZON

    options = EvalOptions(
        episodes_min=args.episodes_min,
        latency_ms=args.latency_ms,
        maker_bps=args.maker_bps,
        taker_bps=args.taker_bps,
    )
    manifest = _manifest(args.bundle) if args.bundle else {"horizon": DEFAULT_HORIZON}
    horizon = int(manifest["horizon"])
    datasets = [load(p) for p in args.data]
    market = Market(datasets, build_table(datasets, horizon))
    if args.bundle and manifest["features"].get("names") != market.table.feature_names:
        raise ValueError(f"{args.bundle}: the bundle's features differ from these datasets' (levels or version)")
    models = model_predictions(args.bundle, market.table.X) if args.bundle else {}
    partial = {}
    if args.teacher:
        partial["teacher"] = _teacher(args.teacher, datasets, market, horizon, args.teacher_max_age)
    strategies = build_strategies(market, models, partial)
    report, runs = evaluate(market, strategies, options, progress=lambda m: print(m, file=sys.stderr))
    report["bundle"] = str(args.bundle) if args.bundle else None
    report["data"] = [str(p) for p in args.data]
    print(table(report))
    if args.json:
        write_json(report, args.json)
        print(f"report: {args.json}")
    if args.plots:
        from export.evaluate_plots import write_plots

        for path in write_plots(report, runs, args.plots):
            print(f"plot: {path}")
    return 0
