from itertools import combinations

import numpy as np
import pytest
import torch

from export.gate import Gate, GateConfig, Mixture
from export.students import BankConfig, Normalizer, StudentBank, TaskScale
from lob.targets import regimes

TASKS_OF = [0, 0, 0, 1, 1, 2]  # three students for task 0, two for task 1, one for task 2
H, F, VOL = 6, 5, 2
EDGES = np.array([0.5, 1.5])


def make_gate(kind: str, use_regime: bool = True) -> Gate:
    gate = Gate(GateConfig(kind=kind, proj_dims=3, use_regime=use_regime), TASKS_OF, H, F, EDGES, VOL, seed=3)
    with torch.no_grad():
        for p in gate.parameters():
            p.normal_()  # non-trivial biases and projections
    return gate


def inputs(b: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.normal(1.0, 1.0, (b, F)), dtype=torch.float32)
    latent = torch.as_tensor(rng.normal(size=(len(TASKS_OF), b, H)), dtype=torch.float32)
    return x, latent


def reference_hajek(u: np.ndarray, gamma: float) -> np.ndarray:
    """Per sample, per task group: U-statistic of RBF similarities and each student's Hájek projection."""
    out = np.zeros(len(TASKS_OF))
    for task in set(TASKS_OF):
        group = [s for s, t in enumerate(TASKS_OF) if t == task]
        m = len(group)
        if m < 2:
            continue
        k = {(i, j): np.exp(-gamma * np.sum((u[i] - u[j]) ** 2)) for i, j in combinations(group, 2)}
        big_u = np.mean(list(k.values()))
        for i in group:
            h1 = np.mean([k[tuple(sorted((i, j)))] for j in group if j != i]) - big_u
            out[i] = 2.0 / m * h1
    return out


def test_hajek_contributions_match_the_definition():
    gate = make_gate("hajek")
    _, latent = inputs()
    c = gate.contributions(latent).detach().numpy()
    u = (latent @ gate.proj).transpose(0, 1).detach().numpy()  # (B, S, D)
    gamma = float(torch.exp(gate.log_gamma.detach()))
    for b in range(len(u)):
        np.testing.assert_allclose(c[b], reference_hajek(u[b], gamma), atol=1e-5)
    assert np.allclose(c[:, 5], 0.0)  # a lone student has nothing to agree with


@pytest.mark.parametrize("kind", ["hajek", "softmax", "uniform"])
def test_weights_sum_to_one_per_task(kind):
    x, latent = inputs()
    w = make_gate(kind)(x, x, latent).detach().numpy()
    assert w.shape == (8, len(TASKS_OF)) and (w >= 0).all()
    for task in set(TASKS_OF):
        np.testing.assert_allclose(w[:, np.array(TASKS_OF) == task].sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(w[:, 5], 1.0, atol=1e-6)
    if kind == "uniform":
        np.testing.assert_allclose(w[:, :3], 1 / 3, atol=1e-6)


def test_regime_in_the_graph_matches_lob_targets():
    gate = make_gate("hajek")
    vol = np.array([0.0, 0.5, 0.50001, 1.0, 1.5, 1.6, 9.0], np.float32)  # both edges exactly, and either side
    x = torch.zeros(len(vol), F)
    x[:, VOL] = torch.as_tensor(vol)
    onehot = gate.regime_onehot(x).numpy()
    np.testing.assert_array_equal(onehot.argmax(1), regimes(vol.astype(np.float64), EDGES))
    np.testing.assert_array_equal(onehot.sum(1), 1.0)


def test_regime_bias_moves_the_weights_only_when_used():
    x, latent = inputs()
    with_regime, without = make_gate("softmax", True), make_gate("softmax", False)
    without.load_state_dict({k: v for k, v in with_regime.state_dict().items() if k != "regime_bias"})
    assert not torch.allclose(with_regime(x, x, latent), without(x, x, latent))


def test_mixture_combines_students_in_target_units():
    bank = StudentBank(BankConfig(n_features=F, n_students=len(TASKS_OF), hidden=H, adapter_dims=0))
    scale = TaskScale(np.array([1.0, 10.0, 100.0]), np.array([2.0, 3.0, 4.0]))
    mix = Mixture(Normalizer(np.zeros(F), np.ones(F)), bank, make_gate("hajek"), scale, TASKS_OF, 3)
    x, _ = inputs()
    pred, w = mix(x)
    z, w2, out, _ = mix.standardized(x)
    np.testing.assert_allclose(w.detach().numpy(), w2.detach().numpy())
    np.testing.assert_allclose(pred.detach().numpy(), z.detach().numpy() * [2.0, 3.0, 4.0] + [1, 10, 100], atol=1e-4)
    np.testing.assert_allclose(pred[:, 2].detach().numpy(), out[:, 5].detach().numpy() * 4.0 + 100.0, atol=1e-4)


def test_every_task_needs_a_student_and_configs_validate():
    bank = StudentBank(BankConfig(n_features=F, n_students=2, hidden=H, adapter_dims=0))
    gate = Gate(GateConfig(), [0, 1], H, F, EDGES, VOL)
    with pytest.raises(ValueError, match=r"task\(s\) \[2\]"):
        Mixture(Normalizer(np.zeros(F), np.ones(F)), bank, gate, TaskScale(np.zeros(3), np.ones(3)), [0, 1], 3)
    with pytest.raises(ValueError, match="kind"):
        GateConfig(kind="top1")
    with pytest.raises(ValueError, match="temperature"):
        GateConfig(temperature=0.0)
