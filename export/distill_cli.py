"""`cmm distill`, `cmm export` and `cmm pipeline` (torch and onnx are imported in the handlers)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

QUICK_STEPS, QUICK_GATE_STEPS = 200, 150


def register(subparsers: argparse._SubParsersAction) -> None:
    distill = subparsers.add_parser("distill", help="train the CMM students, gates and baselines into a run directory")
    distill.add_argument(
        "--data",
        nargs="+",
        required=True,
        type=Path,
        metavar="FILE",
        help="canonical datasets (.npz); the teacher store's datasets first, in its order",
    )
    distill.add_argument("--features", required=True, type=Path, metavar="DIR", help="teacher feature store")
    distill.add_argument("--probe", required=True, type=Path, metavar="FILE", help="probe.json (its decomposition)")
    distill.add_argument("--out", required=True, type=Path, metavar="DIR", help="run directory to write")
    distill.add_argument(
        "--time-teacher",
        type=int,
        default=0,
        metavar="N",
        help="also time the teacher on N snapshots (default 0: not timed)",
    )
    _training_args(distill)
    distill.set_defaults(func=_distill)

    export = subparsers.add_parser("export", help="a run directory -> models/NAME (ONNX graphs, manifest, report)")
    export.add_argument("--run", required=True, type=Path, metavar="DIR", help="run directory from `cmm distill`")
    export.add_argument("--out", required=True, type=Path, metavar="DIR", help="bundle directory, e.g. models/NAME")
    export.set_defaults(func=_export)

    pipeline = subparsers.add_parser("pipeline", help="prepare -> teacher features -> probe -> distill -> export")
    pipeline.add_argument("--out", required=True, type=Path, metavar="DIR", help="bundle directory, e.g. models/NAME")
    pipeline.add_argument(
        "--quick", action="store_true", help=f"Bitstamp only, a tiny teacher subsample, {QUICK_STEPS} steps (CI)"
    )
    pipeline.add_argument("--work-dir", type=Path, default=None, help="where stores and runs go (default runs/)")
    pipeline.add_argument(
        "--teacher-stride",
        type=int,
        default=None,
        help="teacher features on every K-th Bitstamp row (default 4; quick 1)",
    )
    pipeline.add_argument(
        "--teacher-limit", type=int, default=None, help="then at most N rows, evenly spaced (default all; quick 120)"
    )
    _training_args(pipeline)
    pipeline.set_defaults(func=_pipeline)


def _training_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=None, help="student training steps (default 3000)")
    parser.add_argument("--gate-steps", type=int, default=None, help="gate training steps (default 1500)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden width of each CMM student (default 64)")
    parser.add_argument("--gate", default="hajek", choices=("hajek", "softmax", "uniform"), help="the CMM gate")
    parser.add_argument("--feature-weight", type=float, default=1.0, help="feature-matching loss weight")
    parser.add_argument("--task-weight", type=float, default=1.0, help="task loss weight")
    parser.add_argument("--other-share", type=float, default=0.25, help="share of other regimes' rows per student")
    parser.add_argument("--seed", type=int, default=0)


def _config(args: argparse.Namespace, quick: bool = False):
    from export.distill import DistillConfig
    from export.gate import GateConfig

    default_steps, default_gate = (QUICK_STEPS, QUICK_GATE_STEPS) if quick else (3000, 1500)
    return DistillConfig(
        hidden=args.hidden,
        steps=args.steps or default_steps,
        gate_steps=args.gate_steps or default_gate,
        feature_weight=args.feature_weight,
        task_weight=args.task_weight,
        other_share=args.other_share,
        seed=args.seed,
        gate=GateConfig(kind=args.gate),
        eval_every=50 if quick else 100,
    )


def _command() -> str:
    return "cmm " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _distill(args: argparse.Namespace) -> int:
    from export.pipeline import distill_stage

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = distill_stage(args.data, args.features, args.probe, args.out, _config(args), _command(), args.time_teacher)
    print(f"wrote run {path}")
    return 0


def _print_summary(manifest: dict, out: Path) -> None:
    ev = manifest["evaluation"]
    lat = ev["ort_latency_us"]["cmm"]
    print(
        f"wrote {out}: graph sha256 {manifest['graph']['sha256'][:16]}, {len(manifest['students'])} students, "
        f"ORT batch-1 p50 {lat['p50_us']} us p99 {lat['p99_us']} us, build {manifest['build_seconds']} s"
    )
    for name, metrics in ev["models"].items():
        print(
            f"  {name:>18}: " + "  ".join(f"{t} MAE {m['mae']:.4g} dir {m['dir_acc']:.3f}" for t, m in metrics.items())
        )


def _export(args: argparse.Namespace) -> int:
    from export.bundle import export_bundle

    manifest = export_bundle(args.run, args.out, _command())
    _print_summary(manifest, args.out)
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from export.pipeline import PipelineOptions, run_pipeline

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = PipelineOptions(
        quick=args.quick,
        teacher_stride=args.teacher_stride,
        teacher_limit=args.teacher_limit,
        **({"work_dir": args.work_dir} if args.work_dir else {}),
    )
    manifest = run_pipeline(args.out, options, _config(args, args.quick), _command())
    _print_summary(manifest, args.out)
    return 0
