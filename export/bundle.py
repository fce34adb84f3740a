"""A model bundle from a distillation run: the graphs, their checks, `manifest.json` and `report.md`.

models/NAME/model.onnx                      CMM: students + Hájek-MoE gate, one graph
models/NAME/baselines/label_only.onnx       same input, the three task outputs
models/NAME/baselines/single_distilled.onnx
models/NAME/manifest.json                   everything docs/architecture.md lists; the server checks graph.sha256
models/NAME/report.md, training_curves.png
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import onnxruntime as ort

from export.onnx_export import OPSET, export_onnx, graph_summary, latency_us, parity
from export.report import write_report
from export.run_dir import load_run
from lob.dataset import file_sha256
from lob.targets import REGIMES, TASKS
from server.runtime import tuned_session

MODEL_FILE = "model.onnx"
BASELINES = ("label_only", "single_distilled")
# ORT vs torch, every output: 1e-4 absolute, or twice torch's own float32 error where that is larger
# (mid changes of a 0.01-tick BTC book reach thousands of ticks: float32 alone is off by 1e-4 there)
PARITY_ABS = 1e-4


def instrument_map(datasets: list[dict]) -> dict[str, dict]:
    """Quote symbol -> {tick, venue}. A symbol traded on several venues with different ticks (Binance spot
    and USD-M BTCUSDT: 0.01 and 0.1) is keyed "venue:symbol" for each, so no venue's tick silently wins."""
    ticks: dict[str, set[float]] = {}
    for d in datasets:
        ticks.setdefault(d["symbol"], set()).add(d["tick"])
    out = {}
    for d in datasets:
        key = d["symbol"] if len(ticks[d["symbol"]]) == 1 else f"{d['venue']}:{d['symbol']}"
        out[key] = {"tick": d["tick"], "venue": d["venue"]}
    return out


def git_commit(cwd: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def io_spec(session: ort.InferenceSession) -> tuple[list[dict], list[dict]]:
    def describe(args):
        return [
            {"name": a.name, "dtype": "float32", "shape": [d if isinstance(d, int) else "batch" for d in a.shape]}
            for a in args
        ]

    return describe(session.get_inputs()), describe(session.get_outputs())


def check_graph(model, path: Path, sample) -> tuple[ort.InferenceSession, dict]:
    """Load with the serving session; refuse the bundle if ORT and torch disagree beyond the tolerance."""
    session = tuned_session(path)
    diffs = parity(model, session, sample)
    for name, d in diffs.items():
        if not d["max_abs"] <= max(PARITY_ABS, 2 * d["float32_error"]):
            raise ValueError(
                f"{path}: ORT and torch differ on `{name}` by {d['max_abs']:.2e} on {len(sample)} rows, "
                f"more than {PARITY_ABS} and twice torch's float32 error {d['float32_error']:.2e}"
            )
    return session, diffs


def export_bundle(run_dir: str | Path, out: str | Path, command: str, started: float | None = None) -> dict:
    """Write the bundle for run `run_dir` into `out`; returns the manifest. `started`: when the build began."""
    t0 = time.time()
    run, meta, sample = load_run(run_dir)
    out = Path(out)
    name = out.name
    n_features = run.spec["n_features"]
    primary = next(iter(run.mixtures))
    cmm = run.mixtures[primary]
    graphs = {"cmm": (cmm, out / MODEL_FILE)}
    graphs.update({b: (run.singles[b], out / "baselines" / f"{b}.onnx") for b in BASELINES})
    checks, sessions = {}, {}
    for key, (model, path) in graphs.items():
        export_onnx(model, path, n_features)
        sessions[key], diffs = check_graph(model, path, sample)
        checks[key] = {"diffs": diffs, "rows": int(len(sample)), **graph_summary(path)}
    latency = {key: latency_us(s, sample) for key, s in sessions.items()}
    inputs, outputs = io_spec(sessions["cmm"])
    sha = file_sha256(out / MODEL_FILE)
    evaluation = {
        **run.evaluation,
        "ort_parity": checks,
        "ort_latency_us": latency,
        "teacher_timing": meta.get("teacher_timing"),
    }
    manifest = {
        "name": name,
        "version": sha[:12],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "command": command,
        "graph": {"file": MODEL_FILE, "sha256": sha, "opset": OPSET, "inputs": inputs, "outputs": outputs},
        "baselines": {
            b: {
                "file": f"baselines/{b}.onnx",
                "sha256": file_sha256(graphs[b][1]),
                "params": run.singles[b].bank.cfg.params_per_student,
            }
            for b in BASELINES
        },
        "features": {"names": meta["feature_names"], "levels": meta["levels"], "window": meta["window"]},
        "horizon": meta["horizon"],
        "grid_ms": meta["grid_ms"],
        "instruments": instrument_map(meta["datasets"]),
        "regimes": {"names": list(REGIMES), "edges": run.spec["edges"], "feature": "realized_vol"},
        "tasks": list(TASKS),
        "teacher": meta["teacher"],
        "data": [
            {
                "name": d["name"],
                "sha256": d["sha256"],
                "content_hash": d["content_hash"],
                "rows": d["rows"],
                "sources": d["sources"],
            }
            for d in meta["datasets"]
        ],
        "students": [
            {
                "task": TASKS[s["task"]],
                "regime": None if s["regime"] is None else REGIMES[s["regime"]],
                "layers": s["layers"],
                "params": cmm.bank.cfg.params_per_student,
                "hidden": cmm.bank.cfg.hidden,
            }
            for s in run.spec["slices"]
        ],
        "gate": {**asdict(cmm.gate.cfg), "params": sum(p.numel() for p in cmm.gate.parameters())},
        "distill": meta["config"],
        "evaluation": evaluation,
        "build_seconds": round(time.time() - started if started else meta["distill_seconds"] + time.time() - t0, 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    write_report(out, run, manifest)
    return manifest
