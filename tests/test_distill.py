import numpy as np
import pytest
import torch

from export.distill import (
    DistillConfig,
    dataset_loss_scale,
    distill,
    include_mask,
    prepare,
    slice_targets,
    slices_from_probe,
)
from lob.table import build_table
from tests.distill_fixtures import (
    N_LAYERS,
    synthetic_dataset,
    synthetic_decomposition,
    synthetic_store,
    synthetic_table,
)

CFG = DistillConfig(steps=120, gate_steps=40, eval_every=40, batch=256)


@pytest.fixture(scope="module")
def setup():
    table = synthetic_table(2400)
    rows, feats = synthetic_store(table)
    slices = slices_from_probe(synthetic_decomposition(), N_LAYERS)
    teacher = np.nan_to_num(table.Y[rows])  # a perfect "teacher" forecast, to check the bookkeeping
    return table, rows, feats, slices, distill(table, rows, feats, slices, CFG, teacher)


def test_probe_decomposition_parses_names_and_indices():
    slices = slices_from_probe(
        [{"task": "spread", "regime": "volatile", "layers": [3, 5]}, {"task": 2, "regime": None, "layers": [0, 0]}], 31
    )
    assert [(s.task, s.regime, s.layers) for s in slices] == [(1, 2, (3, 5)), (2, None, (0, 0))]


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"task": "price", "regime": "calm", "layers": [0, 1]}, "malformed"),
        ({"task": "spread", "regime": "calm", "layers": [0, 31]}, "out of range"),
        ({"task": "spread", "regime": "calm"}, "malformed"),
    ],
)
def test_bad_decomposition_names_the_entry(entry, match):
    with pytest.raises(ValueError, match=match):
        slices_from_probe([entry], 31)
    with pytest.raises(ValueError, match="empty"):
        slices_from_probe([], 31)


def test_include_mask_keeps_own_regime_and_a_share_of_the_rest():
    regime = np.random.default_rng(0).integers(0, 3, 20_000)
    mask = include_mask(regime, [0, 2, None], 0.25, seed=1)
    assert mask[regime == 0, 0].all() and mask[regime == 2, 1].all() and mask[:, 2].all()
    assert abs(mask[regime != 0, 0].mean() - 0.25) < 0.02


def test_slice_targets_average_the_layer_group_and_standardise():
    feats = np.random.default_rng(0).normal(size=(50, 4, 3)).astype(np.float32)
    out = slice_targets(feats, np.ones(50, bool), [(1, 2), (3, 3)])
    expected = feats[:, 1:3].mean(1)
    expected = (expected - expected.mean(0)) / expected.std(0)
    np.testing.assert_allclose(out[:, 0], expected, atol=1e-4)
    np.testing.assert_allclose(out[:, 1].std(0), 1.0, atol=1e-4)


def test_distill_trains_every_model_and_reports_all_rows(setup):
    table, _, _, slices, run = setup
    assert set(run.mixtures) == {"hajek", "uniform", "softmax"}
    assert set(run.singles) == {"label_only", "single_distilled"}
    ev = run.evaluation
    assert set(ev["models"]) == {"cmm_hajek", "cmm_uniform", "cmm_softmax", "label_only", "single_distilled"}
    assert ev["test_rows"] == len(table.rows("test"))
    assert ev["models_on_teacher_rows"]["teacher"]["mid_change"]["mae"] == pytest.approx(0.0)
    assert len(ev["fidelity"]["students"]) == len(slices)
    for phase in ("students", "gate_hajek", "gate_softmax", "label_only", "single_distilled"):
        assert run.history[phase], phase
    assert run.history["gate_uniform"] == []  # nothing to train


def test_students_learn_their_planted_teacher_slice(setup):
    _, rows, _, slices, run = setup
    mix = run.mixtures["hajek"]
    x = torch.as_tensor(setup[0].X[rows])
    with torch.no_grad():
        _, _, _, latent = mix.standardized(x)
        adapted = mix.bank.adapt(latent).numpy()
    target = slice_targets(setup[2], setup[0].split[rows] == 0, [s.layers for s in slices])
    for i, s in enumerate(slices):  # dimension `task` of the slice carries the planted input feature
        corr = np.corrcoef(adapted[:, i, s.task], target[:, i, s.task])[0, 1]
        assert corr > 0.3, (i, corr)  # untrained: about 0 (+-0.05 on these ~600 rows); 120 steps reach 0.38-0.9


def test_same_seed_same_weights(setup):
    table, rows, feats, slices, run = setup
    again = distill(table, rows, feats, slices, CFG)
    for a, b in zip(
        run.mixtures["hajek"].state_dict().values(), again.mixtures["hajek"].state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_config_and_inputs_are_checked():
    with pytest.raises(ValueError, match="other_share"):
        DistillConfig(other_share=1.5)
    with pytest.raises(ValueError, match="steps"):
        DistillConfig(steps=0)
    table = synthetic_table(600)
    rows, feats = synthetic_store(table)
    with pytest.raises(ValueError, match="do not match"):
        distill(table, rows[:-1], feats, slices_from_probe(synthetic_decomposition(), N_LAYERS), CFG)
    with pytest.raises(ValueError, match="beyond"):
        distill(table, rows, feats[:, :10], slices_from_probe(synthetic_decomposition(), N_LAYERS), CFG)


def test_loss_scale_puts_each_dataset_in_its_own_units():
    table = build_table([synthetic_dataset(1500, 0), synthetic_dataset(1500, 1, symbol="OTHER")])
    train = table.rows("train")
    pooled = table.Y[train].std(0)
    scale = dataset_loss_scale(table.dataset_id, table.Y, train, pooled)
    for i in (0, 1):
        mine = train[table.dataset_id[train] == i]
        np.testing.assert_allclose(scale[table.dataset_id == i][0], np.maximum(table.Y[mine].std(0) / pooled, 0.01))
    assert not np.allclose(scale[0], scale[-1])


def test_prepare_makes_features_and_mid_change_scale_free(setup):
    table, rows, _, _, run = setup
    p = prepare(table, rows)
    mix = run.mixtures["hajek"]
    with torch.no_grad():
        np.testing.assert_allclose(p.x_free.numpy(), mix.price.features(p.x).numpy())
        factor = mix.price.factor(p.x).numpy()
    assert (factor[:, 0] >= 1).all() and (factor[:, 1:] == 1).all()  # only mid_change is in price-scale units
    train = p.splits["train"]
    y = p.yz.numpy()[train] * p.task_std + p.task_mean
    np.testing.assert_allclose(y * factor[train], table.Y[train], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(run.spec["norm_mean"], p.x_free.numpy()[train].astype(np.float64).mean(0), atol=1e-4)


def test_huber_delta_is_checked():
    with pytest.raises(ValueError, match="huber_delta"):
        DistillConfig(huber_delta=0)


def test_distill_leaves_subnormal_floats_working(setup):
    """Training flushes denormals for speed; the rest of the process must get IEEE floats back."""
    tiny = np.float64(5e-324)
    assert tiny * 1.0 != 0.0
    assert (torch.tensor([1e-40], dtype=torch.float32) * 1.0).item() != 0.0
