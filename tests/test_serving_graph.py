"""The folded serving graph: equal to Mixture.forward in float64 for every gate, regime, price and group layout;
ORT parity at export; far fewer nodes."""

import itertools

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from export.bundle import PARITY_ABS
from export.distill import price_scale
from export.gate import Gate, GateConfig, Mixture
from export.onnx_export import export_onnx, graph_summary, parity
from export.serving import ServingMixture
from export.students import BankConfig, Normalizer, PriceScale, StudentBank, TaskScale
from lob.features import feature_index, feature_names
from lob.targets import TASKS, regimes
from server.runtime import tuned_session

F, H, VOL, BID, ASK = 12, 7, 4, 1, 2
NOT_PRICE = [3, *range(5, F)]  # PriceScale below reads columns 0, BID, ASK and VOL
HUGE_SCALE = slice(10, 12)  # rows of edge_rows whose price scale is ~1e6: mid_change ~1e8
EDGES = np.array([0.0, 1.5])  # e0 = 0 as in the served bundle: a still book (vol 0) is calm
GROUPS = {
    "unequal": [0, 0, 0, 1, 1, 2],  # a singleton task
    "shuffled": [2, 0, 1, 0, 2, 0],  # groups interleaved, of sizes 3, 1, 2
    "served": [0, 0, 0, 1, 1, 1, 2, 2, 2],
    "singletons": [0, 1, 2],  # no pairs at all: the gate cannot move
}


def randomise(mix: Mixture, seed: int) -> Mixture:
    """Every weight moved off its init (the zero biases and regime biases too), at the init's scale."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*mix.bank.parameters(), *mix.gate.parameters()]:
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return mix.eval()


def mixture(tasks: list[int], kind: str, regime: bool, price: bool, seed: int = 0) -> Mixture:
    rng = np.random.default_rng(seed)
    bank = StudentBank(BankConfig(F, len(tasks), H, adapter_dims=0), seed)
    gate = Gate(GateConfig(kind=kind, proj_dims=3, use_regime=regime), tasks, H, F, EDGES, VOL, seed)
    scale = PriceScale(F, [0, BID, ASK, VOL], VOL, (BID, ASK), len(TASKS), [0]) if price else None
    normalizer = Normalizer(rng.normal(size=F), rng.uniform(0.5, 2.0, F))
    task_scale = TaskScale(rng.normal(0, 1, len(TASKS)), rng.uniform(0.5, 3.0, len(TASKS)))
    return randomise(Mixture(normalizer, bank, gate, task_scale, tasks, len(TASKS), scale), seed)


def edge_rows(n: int = 64, seed: int = 1) -> np.ndarray:
    """Random rows plus: vol exactly at either edge and just above, negative vol and width, a still book
    (vol 0, width 0: s = 1), rows far outside the normaliser's clip, and rows whose price scale is ~1e6."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, (n, F))
    x[:, VOL] = np.abs(x[:, VOL])
    x[:4, VOL] = [0.0, 1.5, np.nextafter(1.5, 2.0), np.nextafter(0.0, 1.0)]
    x[4, VOL] = -1.0
    x[5, [VOL, ASK]] = [0.0, x[5, BID] - 3.0]
    x[6, [VOL, ASK]] = [0.0, x[6, BID]]
    x[7:10, NOT_PRICE] *= 1e4
    x[HUGE_SCALE] *= 1e6
    return x


def served(mix: Mixture, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The folded module's outputs as Mixture.forward gives them: (B, T), (B, S)."""
    with torch.no_grad():
        *preds, w = ServingMixture(mix)(torch.as_tensor(x, dtype=mix.bank.w1.dtype))
    return torch.stack(preds, 1).numpy(), w.numpy()


def test_edge_rows_cover_every_regime_and_the_clip():
    x = edge_rows()
    assert set(regimes(x[:, VOL], EDGES)) == {0, 1, 2}
    mix = mixture(GROUPS["unequal"], "hajek", True, True).double()
    with torch.no_grad():
        z = mix.normalizer(mix.scale_free(torch.as_tensor(x)))
    assert (z.abs() == mix.normalizer.clip).any(1)[7:12].all()


@pytest.mark.parametrize(
    ("groups", "kind", "regime", "price"),
    list(itertools.product(GROUPS, ["hajek", "softmax", "uniform"], [True, False], [True, False])),
)
def test_folded_module_is_the_mixture_in_float64(groups, kind, regime, price):
    mix = mixture(GROUPS[groups], kind, regime, price).double()
    x = edge_rows()
    with torch.no_grad():
        want_y, want_w = (t.numpy() for t in mix(torch.as_tensor(x)))
    got_y, got_w = served(mix, x)
    assert got_y.shape == want_y.shape and got_w.shape == want_w.shape
    np.testing.assert_allclose(got_y, want_y, rtol=1e-9, atol=1e-9 * np.abs(want_y).max())
    np.testing.assert_allclose(got_w, want_w, rtol=1e-9, atol=1e-12)
    tasks = np.array(GROUPS[groups])
    for task in range(len(TASKS)):
        np.testing.assert_allclose(got_w[:, tasks == task].sum(1), 1.0, rtol=1e-12)
    if kind != "uniform" and groups != "singletons":
        assert got_w.std(0).max() > 0.01  # the weights depend on the row: the gate was really compared


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_selector_gives_the_price_scale_and_regime_bit_for_bit(dtype):
    mix = mixture(GROUPS["served"], "hajek", True, True).to(dtype)
    fused = ServingMixture(mix)
    x = torch.as_tensor(edge_rows(), dtype=dtype)
    selected = x @ fused.select + fused.select_bias
    assert torch.equal(selected.amax(1, keepdim=True), mix.price.scale(x))
    assert torch.equal((selected > fused.thresholds)[:, -2:].to(dtype), mix.gate.above_edges(x))


@pytest.mark.parametrize(
    ("groups", "kind", "regime", "price"),
    [
        *[(g, k, True, True) for g in GROUPS for k in ("hajek", "softmax", "uniform")],
        ("served", "hajek", False, False),
        ("shuffled", "softmax", True, False),
    ],
)
def test_ort_graph_matches_torch_and_batches(tmp_path, groups, kind, regime, price):
    mix = mixture(GROUPS[groups], kind, regime, price)
    path = export_onnx(mix, tmp_path / "model.onnx", F)
    session = tuned_session(path)
    x = np.delete(edge_rows(256), HUGE_SCALE, 0).astype(np.float32)  # float32 keeps ~8 ticks of 1e8 at best
    for name, d in parity(mix, session, x).items():  # the bar export_bundle's check_graph sets
        assert d["max_abs"] <= max(PARITY_ABS, 2 * d["float32_error"]), (name, d)
    assert [o.name for o in session.get_outputs()] == [*TASKS, "gate"]
    full = session.run(None, {"features": x})
    one = session.run(None, {"features": x[9:10]})
    for a, b in zip(full, one, strict=True):
        assert b.shape[0] == 1 and a.shape[0] == len(x)
        np.testing.assert_allclose(a[9:10], b, rtol=1e-5, atol=1e-5)


def served_shapes() -> Mixture:
    """The served bundle's shapes: 56 features, 9 students of hidden 64 in groups of 3, D = 16, regime, price."""
    levels = 10
    n = len(feature_names(levels))
    tasks = GROUPS["served"]
    edges = np.array([0.0, 8.3])
    gate = Gate(GateConfig(), tasks, 64, n, edges, feature_index("realized_vol", levels))
    bank = StudentBank(BankConfig(n, len(tasks), 64), 0)
    scales = TaskScale(np.zeros(len(TASKS)), np.ones(len(TASKS)))
    mix = Mixture(Normalizer(np.zeros(n), np.ones(n)), bank, gate, scales, tasks, len(TASKS), price_scale(n, levels))
    return randomise(mix, 0)


def optimised_nodes(path, tmp_path) -> int:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return len(onnx.load(opts.optimized_model_filepath).graph.node)


def test_folded_graph_has_half_the_nodes(tmp_path):
    mix = served_shapes()
    fused = export_onnx(mix, tmp_path / "fused.onnx", 56)
    unfused = export_onnx(mix, tmp_path / "unfused.onnx", 56, fused=False)
    nodes = graph_summary(fused)["nodes"], graph_summary(unfused)["nodes"]
    assert 2 * nodes[0] <= nodes[1], nodes
    optimised = optimised_nodes(fused, tmp_path), optimised_nodes(unfused, tmp_path)
    assert 3 * optimised[0] <= 2 * optimised[1], optimised
    x = np.random.default_rng(0).normal(0, 3, (64, 56)).astype(np.float32)
    for path in (fused, unfused):
        diffs = parity(mix, tuned_session(path), x)
        assert all(d["max_abs"] <= max(PARITY_ABS, 2 * d["float32_error"]) for d in diffs.values()), diffs
