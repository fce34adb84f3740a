"""The CMM graph op for op and folded for serving (`export/serving.py`): nodes and ORT latency of each.

    .venv/bin/python bench/bench_graph.py [--count 5000] [--rounds 3] [--batch 32]

Prints figures; asserts nothing about timings. The bundle keeps no torch model, so both graphs are
exported from one Mixture with the served shapes (56 features, 9 students of hidden 64 in three groups
of 3, Hájek gate with 16 projection dims, regime, price scale), built as the distillation builds it on a
synthetic table, with randomised gate and output weights. Each graph is timed on the same rows, the two
alternating so both see the same machine load: `session.run` in the serving session (what `latency_us`
and the bundle's manifest report) and the server's own batch-1 path (`ModelRuntime.predict`: IOBinding
over preallocated buffers).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from export.distill import DistillConfig, build_mixture, make_spec, prepare, slices_from_probe  # noqa: E402
from export.gate import GateConfig, Mixture  # noqa: E402
from export.onnx_export import INPUT, export_onnx, graph_summary, latency_us  # noqa: E402
from lob.dataset import file_sha256  # noqa: E402
from server.runtime import ModelRuntime, load_runtime, tuned_session  # noqa: E402
from tests.distill_fixtures import N_LAYERS, PCA_DIMS, synthetic_decomposition, synthetic_store, synthetic_table  # noqa: E402
from tests.tiny_bundle import write_tiny_bundle  # noqa: E402


def served_shapes_mixture() -> tuple[Mixture, np.ndarray]:
    """A Mixture with the served shapes and test rows of its table (N, 56)."""
    table = synthetic_table()
    rows, _ = synthetic_store(table, stride=50)
    slices = slices_from_probe(synthetic_decomposition(), N_LAYERS)
    spec = make_spec(table, prepare(table, rows), slices, PCA_DIMS, DistillConfig())
    torch.manual_seed(0)
    mix = build_mixture(spec, GateConfig()).eval()
    with torch.no_grad():
        for p in [*mix.gate.parameters(), mix.bank.w3]:
            p.normal_(0, 0.5)
    return mix, table.X[table.rows("test")].astype(np.float32)


@torch.no_grad()
def float64_outputs(mix: Mixture, x: np.ndarray) -> list[np.ndarray]:
    """The mixture in float64 on `x`: one array per graph output, in the graph's order."""
    preds, gate = copy.deepcopy(mix).double()(torch.as_tensor(x, dtype=torch.float64))
    return [*preds.numpy().T, gate.numpy()]


def optimised_nodes(path: Path) -> int:
    """Nodes left after ORT's graph optimisations (what the serving session runs)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = str(path.with_suffix(".opt.onnx"))
    opts.log_severity_level = 3  # not the warning that an optimised graph is tied to this machine
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return len(onnx.load(opts.optimized_model_filepath).graph.node)


def served_runtime(graph: Path, directory: Path) -> ModelRuntime:
    """The server's runtime on `graph` (batch 1 through IOBinding): the tiny test bundle, its graph swapped."""
    bundle = write_tiny_bundle(directory, n_students=9)
    shutil.copy(graph, bundle / "model.onnx")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["graph"]["sha256"] = file_sha256(bundle / "model.onnx")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return load_runtime(bundle)


def timed_us(call, args: list, count: int) -> np.ndarray:
    """Microseconds of `count` calls cycling through `args`, after count // 10 unmeasured ones."""
    for i in range(count // 10):
        call(args[i % len(args)])
    times = np.empty(count)
    for i in range(count):
        t0 = time.perf_counter_ns()
        call(args[i % len(args)])
        times[i] = time.perf_counter_ns() - t0
    return times / 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=5000, help="batch-1 calls per graph and round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, alternating the graphs")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    mix, x = served_shapes_mixture()
    rows = [x[i : i + 1] for i in range(min(len(x), 256))]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {
            "op for op": export_onnx(mix, Path(tmp) / "unfused.onnx", x.shape[1], fused=False),
            "fused": export_onnx(mix, Path(tmp) / "fused.onnx", x.shape[1]),
        }
        sessions = {k: tuned_session(p) for k, p in paths.items()}
        runtimes = {k: served_runtime(p, Path(tmp) / k.replace(" ", "_")) for k, p in paths.items()}
        exact = float64_outputs(mix, x)
        for name, path in paths.items():
            err = [np.abs(a - e).max() for a, e in zip(sessions[name].run(None, {INPUT: x}), exact, strict=True)]
            print(
                f"{name:10s} nodes {graph_summary(path)['nodes']:3d}, after ORT's optimisations "
                f"{optimised_nodes(path):3d}; largest |ORT - float64 model| per output "
                + ", ".join(f"{e:.1e}" for e in err)
            )
    runs: dict[str, list[dict]] = {k: [] for k in sessions}
    served: dict[str, list[np.ndarray]] = {k: [] for k in sessions}
    for _ in range(args.rounds):
        for name in sessions:
            runs[name].append(latency_us(sessions[name], x, count=args.count, warmup=500))
            served[name].append(timed_us(runtimes[name].predict, rows, args.count))
    big = {INPUT: x[: args.batch]}
    print(f"batch 1: median over {args.rounds} rounds of {args.count} calls, the graphs alternating")
    for name, session in sessions.items():
        p50, p99 = (np.median([r[k] for r in runs[name]]) for k in ("p50_us", "p99_us"))
        s50, s99 = np.median([np.percentile(t, [50, 99]) for t in served[name]], axis=0)
        batch = np.median(timed_us(lambda feed, s=session: s.run(None, feed), [big], args.count // 5))
        print(
            f"{name:10s} session.run p50 {p50:5.1f} us, p99 {p99:5.1f} us; as served (IOBinding) p50 {s50:5.1f} us, "
            f"p99 {s99:5.1f} us; batch {args.batch} session.run p50 {batch:6.1f} us"
        )
    ratio = [r["p50_us"] / f["p50_us"] for r, f in zip(runs["op for op"], runs["fused"], strict=True)]
    print(f"batch-1 session.run p50, op for op / fused: {np.median(ratio):.2f}x")


if __name__ == "__main__":
    main()
