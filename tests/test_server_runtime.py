"""Bundle loading: verified, refused with a clear message when broken, tuned session, batch 1 == batch B."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnxruntime as ort
import pytest

from lob.features import feature_names
from server.runtime import load_runtime
from tests.tiny_bundle import write_tiny_bundle


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    return load_runtime(write_tiny_bundle(tmp_path_factory.mktemp("bundle")), warmup_runs=20)


def edit_manifest(bundle, change) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_loads_the_bundle_it_describes(runtime):
    assert runtime.model_id == {"name": "tiny", "version": "0.0.1"}
    assert (runtime.levels, runtime.n_features, runtime.n_students) == (10, 56, 4)
    assert runtime.ticks == {"BTCUSDT": 0.01, "ETHUSDT": 0.01}
    assert runtime.warmup_s > 0


def test_batch_one_through_the_binding_equals_a_plain_run(runtime):
    x = np.random.default_rng(1).normal(0, 3, (9, runtime.n_features)).astype(np.float32)
    plain = ort.InferenceSession(str(runtime.bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    expected = plain.run(["mid_change", "spread", "volume", "gate"], {"features": x})
    batch = runtime.predict(x)
    for i in range(len(x)):
        one = runtime.predict(x[i : i + 1])
        for got, ref, name in zip([one.mid_change, one.spread, one.volume, one.gate], expected, "msvg", strict=True):
            np.testing.assert_allclose(got, ref[i : i + 1], rtol=1e-5, atol=1e-6, err_msg=name)
        floats = runtime.predict_one(x[i].astype(np.float64).tolist())
        assert all(type(v) is float for v in floats)
        np.testing.assert_allclose(floats, [ref[i] for ref in expected[:3]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch.gate, expected[3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch.gate.sum(1), 1.0, rtol=1e-5)


def test_session_is_tuned_for_batch_one_latency(runtime):
    opts = runtime.session.get_session_options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_a_changed_graph_is_refused_by_its_hash(tmp_path):
    bundle = write_tiny_bundle(tmp_path)
    (bundle / "model.onnx").write_bytes((bundle / "model.onnx").read_bytes()[:-1] + b"\x01")
    with pytest.raises(ValueError, match="sha256 .* does not match the manifest"):
        load_runtime(bundle)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["features"].update(names=m["features"]["names"][::-1]), "features.names differ"),
        (lambda m: m["features"].update(levels=5), "features.names differ"),
        (lambda m: m["features"].update(window=20), "features.window 20"),
        (lambda m: m["instruments"].update(BTCUSDT={"tick": 0}), "instruments.BTCUSDT.tick"),
        (lambda m: m.pop("graph"), "missing graph"),
        (lambda m: m["graph"].pop("sha256"), "graph.sha256 missing"),
    ],
)
def test_an_inconsistent_manifest_is_refused(tmp_path, change, message):
    bundle = write_tiny_bundle(tmp_path)
    edit_manifest(bundle, change)
    with pytest.raises(ValueError, match=message):
        load_runtime(bundle)


def test_missing_pieces_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such bundle"):
        load_runtime(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no manifest"):
        load_runtime(tmp_path)
    bundle = write_tiny_bundle(tmp_path / "b")
    (bundle / "model.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="model.onnx: graph file named in the manifest is missing"):
        load_runtime(bundle)
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_runtime(bundle)


def test_a_graph_with_the_wrong_input_width_is_refused(tmp_path):
    bundle = write_tiny_bundle(tmp_path / "five", levels=5)
    edit_manifest(bundle, lambda m: m["features"].update(levels=10, names=feature_names(10)))
    with pytest.raises(ValueError, match=r"expected one input 'features' \[B, 56\]"):
        load_runtime(bundle)


def test_outputs_of_the_wrong_shape_are_refused(tmp_path):
    """A graph whose heads come out [B, 1] instead of [B] breaks the contract: refused at load."""
    import onnx
    from onnx import helper

    bundle = write_tiny_bundle(tmp_path)
    model = onnx.load(bundle / "model.onnx")
    graph = model.graph
    node = next(n for n in graph.node if n.output[0] == "spread")
    node.output[0] = "spread_flat"
    graph.initializer.append(onnx.numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    graph.node.append(helper.make_node("Unsqueeze", ["spread_flat", "axis1"], ["spread"]))
    onnx.save(model, bundle / "model.onnx")
    edit_manifest(
        bundle, lambda m: m["graph"].update(sha256=hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest())
    )
    with pytest.raises(ValueError, match=r"outputs for a batch of 2 have shapes .*'spread': \(2, 1\)"):
        load_runtime(bundle)
