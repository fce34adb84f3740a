"""A model bundle loaded for serving: manifest checked, graph verified by SHA-256, one tuned ORT session.

The session is tuned for batch-1 latency (../shared/notes/serving.md): one intra-op thread, sequential,
spinning off, and batch 1 runs through an IOBinding over preallocated numpy buffers. `load_runtime`
warms the session up before returning, so a runtime is ready to serve as soon as it exists.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from lob.features import WINDOW, feature_names

OUTPUTS = ("mid_change", "spread", "volume", "gate")
WARMUP_RUNS = 200


@dataclass(frozen=True)
class Predictions:
    mid_change: np.ndarray  # (B,) ticks
    spread: np.ndarray  # (B,) ticks
    volume: np.ndarray  # (B,) log1p base units
    gate: np.ndarray  # (B, S)


def _read_manifest(bundle: Path) -> dict:
    path = bundle / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest (is {bundle} a model bundle?)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    missing = [k for k in ("name", "version", "graph", "features", "instruments") if k not in manifest]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    return manifest


def _check_features(manifest: dict, path: Path) -> int:
    """The bundle's feature layout must be the one `lob.features` computes; return its levels."""
    spec = manifest["features"]
    levels = spec.get("levels")
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"{path}: features.levels must be a positive integer, got {levels!r}")
    if spec.get("names") != feature_names(levels):
        raise ValueError(f"{path}: features.names differ from lob.features.feature_names({levels})")
    if spec.get("window", WINDOW) != WINDOW:
        raise ValueError(f"{path}: features.window {spec.get('window')} but this server computes {WINDOW}")
    return levels


def _instrument_ticks(manifest: dict, path: Path) -> dict[str, float]:
    ticks = {}
    for symbol, spec in manifest["instruments"].items():
        tick = spec.get("tick") if isinstance(spec, dict) else None
        if not isinstance(tick, int | float) or not tick > 0:
            raise ValueError(f"{path}: instruments.{symbol}.tick must be a positive number, got {tick!r}")
        ticks[symbol] = float(tick)
    return ticks


def tuned_session(graph: str | Path) -> ort.InferenceSession:
    """The serving settings: one thread, sequential, full graph optimisation, no spinning (an idle
    spinning worker burns a core after every call, next to a trading engine)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])


class ModelRuntime:
    """One bundle's session; `predict` is not thread-safe (the event loop is its only caller)."""

    def __init__(self, bundle: Path, manifest: dict, session: ort.InferenceSession, levels: int):
        self.bundle = bundle
        self.manifest = manifest
        self.name = str(manifest["name"])
        self.version = str(manifest["version"])
        self.levels = levels
        self.n_features = len(feature_names(levels))
        self.ticks = _instrument_ticks(manifest, bundle / "manifest.json")
        self.session = session
        self.warmup_s = 0.0
        self._check_io()
        self._x1 = np.zeros((1, self.n_features), np.float32)
        self._out1 = {n: np.zeros((1, self.n_students) if n == "gate" else (1,), np.float32) for n in OUTPUTS}
        self._binding = session.io_binding()
        self._binding.bind_cpu_input("features", self._x1)
        for name, buf in self._out1.items():
            self._binding.bind_output(name, "cpu", 0, np.float32, list(buf.shape), buf.ctypes.data)

    def _check_io(self) -> None:
        """The graph must take `features` [B, F] and give `mid_change`, `spread`, `volume` [B] and `gate` [B, S]."""
        where = self.bundle / self.manifest["graph"].get("file", "model.onnx")
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        shape = inputs.get("features", [])
        width_ok = len(shape) == 2 and (shape[1] == self.n_features or not isinstance(shape[1], int))  # or symbolic
        if list(inputs) != ["features"] or not width_ok:
            raise ValueError(f"{where}: expected one input 'features' [B, {self.n_features}], got {inputs}")
        missing = [n for n in OUTPUTS if n not in {o.name for o in self.session.get_outputs()}]
        if missing:
            raise ValueError(f"{where}: missing outputs {', '.join(missing)}")
        try:
            probe = self.session.run(list(OUTPUTS), {"features": np.zeros((2, self.n_features), np.float32)})
        except Exception as err:  # onnxruntime's own exception types
            raise ValueError(f"{where}: a batch of 2 fails to run ({err})") from err
        shapes = {n: a.shape for n, a in zip(OUTPUTS, probe, strict=True)}
        if any(shapes[n] != (2,) for n in OUTPUTS[:3]) or len(shapes["gate"]) != 2 or shapes["gate"][0] != 2:
            raise ValueError(f"{where}: outputs for a batch of 2 have shapes {shapes}, expected [B] and gate [B, S]")
        self.n_students = int(shapes["gate"][1])

    @property
    def model_id(self) -> dict:
        return {"name": self.name, "version": self.version}

    def predict(self, x: np.ndarray) -> Predictions:
        """x: (B, F) float32 raw features. At B = 1 the arrays are views of buffers reused by the next call."""
        if len(x) == 1:
            self._x1[:] = x
            self.session.run_with_iobinding(self._binding)
            out = self._out1
            return Predictions(out["mid_change"], out["spread"], out["volume"], out["gate"])
        mid, spread, volume, gate = self.session.run(list(OUTPUTS), {"features": x})
        return Predictions(mid, spread, volume, gate)

    def predict_one(self, features: list[float]) -> tuple[float, float, float]:
        """One row of raw features as plain floats -> (mid_change, spread, volume): the single-quote path, with
        no array made on the way in or out."""
        self._x1[0] = features
        self.session.run_with_iobinding(self._binding)
        out = self._out1
        return out["mid_change"].item(), out["spread"].item(), out["volume"].item()

    def warm_up(self, runs: int = WARMUP_RUNS) -> None:
        started = time.perf_counter()
        rng = np.random.default_rng(0)
        for i in range(runs):
            batch = 1 if i % 10 else (i // 10) % 8 + 2  # mostly batch 1, a few small batches
            self.predict(rng.normal(0, 1, (batch, self.n_features)).astype(np.float32))
        self.warmup_s = time.perf_counter() - started


def load_runtime(bundle: str | Path, warmup_runs: int = WARMUP_RUNS) -> ModelRuntime:
    """Load, verify and warm up a bundle; raises FileNotFoundError or ValueError saying what is wrong."""
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise FileNotFoundError(f"{bundle}: no such bundle directory")
    manifest = _read_manifest(bundle)
    where = bundle / "manifest.json"
    graph_spec = manifest["graph"]
    if not isinstance(graph_spec, dict) or not isinstance(graph_spec.get("sha256"), str):
        raise ValueError(f"{where}: graph.sha256 missing")
    graph = bundle / graph_spec.get("file", "model.onnx")
    if not graph.is_file():
        raise FileNotFoundError(f"{graph}: graph file named in the manifest is missing")
    digest = hashlib.sha256(graph.read_bytes()).hexdigest()
    if digest != graph_spec["sha256"].lower():
        raise ValueError(f"{graph}: sha256 {digest} does not match the manifest's {graph_spec['sha256']}")
    levels = _check_features(manifest, where)
    try:
        session = tuned_session(graph)
    except Exception as err:  # onnxruntime raises its own exception types for unreadable graphs
        raise ValueError(f"{graph}: ONNX Runtime cannot load it ({err})") from err
    runtime = ModelRuntime(bundle, manifest, session, levels)
    try:
        runtime.warm_up(warmup_runs)
    except Exception as err:  # onnxruntime's own exception types
        raise ValueError(f"{graph}: warm-up failed ({err})") from err
    return runtime
