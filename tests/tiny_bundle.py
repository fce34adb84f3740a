"""A small but real model bundle for tests: an ONNX graph built with `onnx.helper` and its manifest.

The graph follows the bundle contract (docs/architecture.md): input `features` float32 [B, F] (raw
features in `lob.features.feature_names(L)` order), outputs `mid_change`, `spread`, `volume` [B] and a
softmax `gate` [B, S]. Inside: z = tanh((x - mean) / scale); heads = z @ W + b, shaped so that
predictions stay in a sane range (|mid_change| < 2 ticks, spread > 0.5 ticks, volume >= 0).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lob.features import WINDOW, feature_names

DEFAULT_INSTRUMENTS = {
    "BTCUSDT": {"tick": 0.01, "venue": "binance-spot"},
    "ETHUSDT": {"tick": 0.01, "venue": "binance-spot"},
}
OPSET = 17


def _graph(n_features: int, n_students: int, seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    f32 = np.float32
    inits = {
        "mean": np.zeros(n_features, f32),
        "scale": np.full(n_features, 10.0, f32),
        "w_heads": (rng.normal(0, 0.3, (n_features, 3)) / np.sqrt(n_features)).astype(f32),
        "w_gate": rng.normal(0, 1.0, (n_features, n_students)).astype(f32),
        "b_heads": np.array([0.0, 0.5, 1.5], f32),
        "two": np.array(2.0, f32),
        "half": np.array(0.5, f32),
        "i0": np.array(0, np.int64),
        "i1": np.array(1, np.int64),
        "i2": np.array(2, np.int64),
    }
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["scaled"]),
        helper.make_node("Tanh", ["scaled"], ["z"]),
        helper.make_node("MatMul", ["z", "w_heads"], ["heads_raw"]),
        helper.make_node("Add", ["heads_raw", "b_heads"], ["heads"]),
        helper.make_node("Gather", ["heads", "i0"], ["mid_raw"], axis=1),
        helper.make_node("Tanh", ["mid_raw"], ["mid_tanh"]),
        helper.make_node("Mul", ["mid_tanh", "two"], ["mid_change"]),
        helper.make_node("Gather", ["heads", "i1"], ["spread_raw"], axis=1),
        helper.make_node("Softplus", ["spread_raw"], ["spread_soft"]),
        helper.make_node("Add", ["spread_soft", "half"], ["spread"]),
        helper.make_node("Gather", ["heads", "i2"], ["volume_raw"], axis=1),
        helper.make_node("Softplus", ["volume_raw"], ["volume"]),
        helper.make_node("MatMul", ["z", "w_gate"], ["gate_logits"]),
        helper.make_node("Softmax", ["gate_logits"], ["gate"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cmm",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", n_features])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B"]) for n in ("mid_change", "spread", "volume")]
        + [helper.make_tensor_value_info("gate", TensorProto.FLOAT, ["B", n_students])],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests.tiny_bundle")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_tiny_bundle(
    directory: Path,
    levels: int = 10,
    n_students: int = 4,
    name: str = "tiny",
    version: str = "0.0.1",
    instruments: dict | None = None,
    seed: int = 0,
) -> Path:
    """Write `model.onnx` and `manifest.json` into `directory` (created) and return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = feature_names(levels)
    graph_path = directory / "model.onnx"
    onnx.save(_graph(len(names), n_students, seed), graph_path)
    manifest = {
        "name": name,
        "version": version,
        "created": "2026-01-01T00:00:00Z",
        "git_commit": "test",
        "command": "tests.tiny_bundle.write_tiny_bundle",
        "graph": {
            "file": graph_path.name,
            "sha256": hashlib.sha256(graph_path.read_bytes()).hexdigest(),
            "opset": OPSET,
            "inputs": [{"name": "features", "shape": ["B", len(names)], "dtype": "float32"}],
            "outputs": [{"name": n, "shape": ["B"], "dtype": "float32"} for n in ("mid_change", "spread", "volume")]
            + [{"name": "gate", "shape": ["B", n_students], "dtype": "float32"}],
        },
        "features": {"names": names, "levels": levels, "window": WINDOW},
        "horizon": 20,
        "grid_ms": 100,
        "instruments": instruments if instruments is not None else DEFAULT_INSTRUMENTS,
        "regimes": {"names": ["calm", "normal", "volatile"], "edges": [0.5, 2.0], "feature": "realized_vol"},
        "teacher": {"name": "none", "prompt_version": "none"},
        "data": [],
        "students": [{"name": f"student_{i}"} for i in range(n_students)],
        "gate": {"kind": "softmax"},
        "evaluation": {},
        "build_seconds": 0.0,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return directory
