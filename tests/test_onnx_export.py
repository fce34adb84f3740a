import numpy as np
import pytest
import torch

from export.distill import build_mixture, build_single, make_spec, prepare, slices_from_probe
from export.gate import GateConfig
from export.onnx_export import export_onnx, graph_summary, latency_us, parity
from lob.table import build_table
from lob.targets import TASKS
from server.runtime import tuned_session
from tests.distill_fixtures import N_LAYERS, PCA_DIMS, synthetic_decomposition, synthetic_store
from tests.lob_datasets import bitstamp

TOLERANCE = 1e-4  # absolute, the bar


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Untrained-but-randomised CMM and baseline graphs with statistics from the real Bitstamp table."""
    table = build_table([bitstamp()])
    rows, _ = synthetic_store(table, stride=50)
    from export.distill import DistillConfig

    spec = make_spec(
        table, prepare(table, rows), slices_from_probe(synthetic_decomposition(), N_LAYERS), PCA_DIMS, DistillConfig()
    )
    torch.manual_seed(0)
    mix = build_mixture(spec, GateConfig()).eval()
    with torch.no_grad():
        for p in [*mix.gate.parameters(), mix.bank.w3]:
            p.normal_(0, 0.5)  # a gate that actually mixes, outputs away from the mean
    single = build_single(spec, spec["single_hidden"], 0).eval()
    out = tmp_path_factory.mktemp("onnx")
    test = table.rows("test")
    x = table.X[test[np.linspace(0, len(test) - 1, 1000).round().astype(int)]]
    return {
        "mix": mix,
        "single": single,
        "x": x,
        "tasks": [s["task"] for s in spec["slices"]],
        "mix_path": export_onnx(mix, out / "model.onnx", x.shape[1]),
        "single_path": export_onnx(single, out / "single.onnx", x.shape[1]),
    }


def test_ort_matches_torch_on_1000_real_rows(real):
    for model, path in ((real["mix"], real["mix_path"]), (real["single"], real["single_path"])):
        diffs = parity(model, tuned_session(path), real["x"])
        assert len(real["x"]) == 1000
        assert max(d["max_abs"] for d in diffs.values()) <= TOLERANCE, diffs


def test_graph_interface_and_dynamic_batch(real):
    session = tuned_session(real["mix_path"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    assert [o.name for o in session.get_outputs()] == [*TASKS, "gate"]
    full = session.run(None, {"features": real["x"]})
    one = session.run(None, {"features": real["x"][7:8]})
    for a, b in zip(full, one, strict=True):
        assert b.shape[0] == 1
        np.testing.assert_allclose(a[7:8], b, rtol=1e-5, atol=1e-5)  # GEMM blocking differs by batch
    gate = full[3]
    assert gate.shape == (1000, len(real["tasks"]))
    for task in set(real["tasks"]):
        np.testing.assert_allclose(gate[:, np.array(real["tasks"]) == task].sum(1), 1.0, atol=1e-5)
    assert gate.std(0).max() > 0.01  # the weights depend on the snapshot


def test_graph_stays_small_and_session_is_tuned(real):
    summary = graph_summary(real["mix_path"])
    assert summary["nodes"] < 60 and summary["ops"]["MatMul"] <= 12, summary  # folded: export/serving.py
    options = tuned_session(real["mix_path"]).get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


def test_latency_is_measured_at_batch_one(real):
    lat = latency_us(tuned_session(real["single_path"]), real["x"], count=200, warmup=20)
    assert 0 < lat["p50_us"] <= lat["p99_us"] and lat["batch"] == 1 and lat["count"] == 200
    with pytest.raises(ValueError, match="at least one"):
        latency_us(tuned_session(real["single_path"]), real["x"][:0])
