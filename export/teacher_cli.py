"""`cmm teacher features`, `cmm teacher bench` and `cmm probe` (heavy imports happen in the handlers)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

DEFAULT_BENCH_DATA = "data/bitstamp.npz"


def register(subparsers: argparse._SubParsersAction) -> None:
    teacher = subparsers.add_parser("teacher", help="teacher language-model features")
    sub = teacher.add_subparsers(dest="teacher_command", metavar="ACTION", required=True)

    features = sub.add_parser("features", help="compute (or reuse) PCA-reduced hidden states for table rows")
    features.add_argument("--data", nargs="+", required=True, metavar="FILE", help="canonical datasets (.npz)")
    features.add_argument("--out", required=True, metavar="DIR", help="feature store directory")
    _teacher_args(features)
    features.add_argument("--stride", type=int, default=1, help="every K-th table row with a split (default 1)")
    features.add_argument("--limit", type=int, default=None, help="at most N rows, evenly spaced")
    features.add_argument("--pca-dims", type=int, default=32, help="PCA dimensions per layer (default 32)")
    features.add_argument("--horizon", type=int, default=None, help="target horizon in steps (default 20)")
    features.set_defaults(func=_features)

    bench = sub.add_parser("bench", help="snapshots/s: naive per-snapshot forward vs the optimised path")
    bench.add_argument(
        "--data", default=DEFAULT_BENCH_DATA, metavar="FILE", help=f"dataset (default {DEFAULT_BENCH_DATA})"
    )
    _teacher_args(bench)
    bench.add_argument("--snapshots", type=int, default=64, help="snapshots on the optimised path (default 64)")
    bench.add_argument("--naive", type=int, default=8, help="snapshots on the naive path (default 8)")
    bench.set_defaults(func=_bench)

    probe = subparsers.add_parser("probe", help="normalized fluorescent probe over a teacher feature store")
    probe.add_argument("--features", required=True, metavar="DIR", help="teacher feature store")
    probe.add_argument("--out", required=True, metavar="DIR", help="where probe.json and probe.png go")
    probe.add_argument("--data", nargs="+", metavar="FILE", help="datasets (default: those recorded in the store)")
    probe.add_argument("--threshold", type=float, default=0.8, help="score needed to join a layer group (0.8)")
    probe.set_defaults(func=_probe)


def _teacher_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", default="smollm2", help="'smollm2' or a local Hugging Face causal-LM directory")
    parser.add_argument("--batch", type=int, default=16, help="snapshots per forward (default 16)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")


def _load(paths: list[str]) -> list:
    from lob.dataset import load

    return [load(p) for p in paths]


def _features(args: argparse.Namespace) -> int:
    from export.teacher_features import FeatureOptions, build_features
    from lob.targets import DEFAULT_HORIZON

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = FeatureOptions(
        teacher=args.teacher,
        horizon=args.horizon or DEFAULT_HORIZON,
        stride=args.stride,
        limit=args.limit,
        batch=args.batch,
        pca_dims=args.pca_dims,
        device=args.device,
    )
    meta = build_features(_load(args.data), args.out, options, data_files=args.data)
    print(
        f"{args.out}: {meta['rows']} rows {meta.get('split_counts', '')}, {meta['n_layers']} layers x "
        f"{meta['pca_dims']} dims, key {meta['key']}, computed in {meta.get('seconds')} s "
        f"({meta.get('snapshots_per_second')} snapshots/s)"
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    import numpy as np

    from export.teacher import load_teacher
    from export.teacher_bench import bench
    from export.teacher_features import prompt_bodies
    from lob.table import build_table

    if args.snapshots < 1:
        raise ValueError(f"--snapshots must be >= 1, got {args.snapshots}")
    datasets = _load([args.data])
    table = build_table(datasets)
    train = table.rows("train")
    rows = train[np.linspace(0, len(train) - 1, min(args.snapshots, len(train))).round().astype(np.int64)]
    teacher = load_teacher(args.teacher, args.device)
    result = bench(teacher, prompt_bodies(datasets, table, rows), args.naive, args.batch)
    print(f"teacher {args.teacher} on {teacher.device}, data {args.data}")
    print(result.report())
    return 0


def _probe(args: argparse.Namespace) -> int:
    from export.probe import ProbeOptions, run_probe, write_probe
    from export.teacher_store import load_store
    from lob.table import build_table

    store = load_store(args.features)
    files = args.data or store.meta.get("data_files")
    if not files:
        raise ValueError(f"{args.features}: the store records no data files; pass --data FILE...")
    datasets = _load(files)
    store.check_datasets(datasets)
    table = build_table(datasets, store.meta["horizon"])
    result = run_probe(store, table, ProbeOptions(threshold=args.threshold))
    path = write_probe(result, args.out, store.meta)
    print(f"wrote {path} and {Path(args.out) / 'probe.png'}")
    for item in result.to_json()["decomposition"]:
        print(f"  {item['task']:>10} {item['regime']:>8}: layers {item['layers'][0]}-{item['layers'][1]}")
    return 0
