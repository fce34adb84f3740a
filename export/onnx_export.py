"""One fused ONNX graph per model, the tuned ORT session that serves it, and its parity and latency checks.

CMM graph: `features` float32 [B, F] (raw) -> `mid_change`, `spread`, `volume` [B] and `gate` [B, S],
exported from the mixture folded for serving (`export/serving.py`). Baselines: the same input and the
three task outputs. The batch axis is dynamic.
"""

from __future__ import annotations

import copy
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from export.gate import Mixture
from export.serving import ServingMixture
from lob.targets import TASKS

OPSET = 17
INPUT = "features"


class _TaskOutputs(nn.Module):
    """Wraps a model so the graph has one named output per task (and the gate weights for a mixture)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        out = self.model(x)
        preds, extra = (out[0], [out[1]]) if isinstance(out, tuple) else (out, [])
        return (*[preds[:, k] for k in range(len(TASKS))], *extra)


def output_names(model: nn.Module) -> list[str]:
    return [*TASKS, "gate"] if isinstance(model, Mixture) else list(TASKS)


def export_onnx(model: nn.Module, path: str | Path, n_features: int, fused: bool = True) -> Path:
    """Export an eval-mode Mixture or SingleStudent as one graph with a dynamic batch axis. A Mixture is
    exported as its `ServingMixture` unless `fused` is False (the op-for-op graph, for comparison)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = output_names(model)
    model.eval()
    graph = ServingMixture(model) if fused and isinstance(model, Mixture) else _TaskOutputs(model)
    with warnings.catch_warnings():
        # torch 2.13's default exporter needs onnxscript; the TorchScript exporter covers these plain ops.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            graph,
            (torch.zeros(2, n_features),),
            str(path),
            dynamo=False,
            input_names=[INPUT],
            output_names=names,
            opset_version=OPSET,
            dynamic_axes={INPUT: {0: "batch"}, **{n: {0: "batch"} for n in names}},
        )
    onnx.checker.check_model(onnx.load(str(path)))
    return path


@torch.no_grad()
def parity(model: nn.Module, session: ort.InferenceSession, x: np.ndarray) -> dict[str, dict[str, float]]:
    """Per output on rows `x` (N, F): the largest |torch - ORT| (both float32), and the largest error of
    torch float32 itself against the same model in float64 (the precision float32 allows)."""
    model = _TaskOutputs(model.eval())
    ours = model(torch.as_tensor(x, dtype=torch.float32))
    exact = _TaskOutputs(copy.deepcopy(model.model).double())(torch.as_tensor(x, dtype=torch.float64))
    theirs = session.run(None, {INPUT: x.astype(np.float32)})
    names = [o.name for o in session.get_outputs()]
    return {
        name: {
            "max_abs": float(np.abs(a.numpy().astype(np.float64) - b).max()),
            "float32_error": float((a.double() - e).abs().max()),
        }
        for name, a, e, b in zip(names, ours, exact, theirs, strict=True)
    }


def latency_us(session: ort.InferenceSession, x: np.ndarray, count: int = 2000, warmup: int = 200) -> dict:
    """ORT batch-1 `run()` latency over `count` calls cycling through rows of `x`, after `warmup` calls."""
    if len(x) == 0:
        raise ValueError("latency needs at least one feature row")
    rows = [x[i : i + 1].astype(np.float32) for i in range(min(len(x), 256))]
    for i in range(warmup):
        session.run(None, {INPUT: rows[i % len(rows)]})
    times = np.empty(count)
    for i in range(count):
        t0 = time.perf_counter_ns()
        session.run(None, {INPUT: rows[i % len(rows)]})
        times[i] = time.perf_counter_ns() - t0
    p50, p99 = np.percentile(times / 1e3, [50, 99])
    return {"p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1), "count": count, "batch": 1}


def graph_summary(path: str | Path) -> dict:
    """Node count and op histogram: a quick check that the graph stayed small."""
    graph = onnx.load(str(path)).graph
    ops: dict[str, int] = {}
    for node in graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return {"nodes": len(graph.node), "ops": dict(sorted(ops.items()))}
