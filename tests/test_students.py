import numpy as np
import pytest
import torch

from export.students import (
    MAX_STUDENT_PARAMS,
    BankConfig,
    Normalizer,
    PriceScale,
    SingleStudent,
    Slice,
    StudentBank,
    TaskScale,
    hidden_for_params,
)


def numpy_student(bank: StudentBank, s: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Student s of the bank as a plain two-layer MLP, the reference for the batched path."""
    h = bank.cfg.hidden
    w1 = bank.w1.detach().numpy()[:, s * h : (s + 1) * h]
    b1 = bank.b1.detach().numpy()[s * h : (s + 1) * h]
    z = np.maximum(x @ w1 + b1, 0)
    latent = np.maximum(z @ bank.w2[s].detach().numpy() + bank.b2[s].detach().numpy(), 0)
    return latent @ bank.w3[s].detach().numpy() + bank.b3[s].detach().numpy(), latent


def test_bank_equals_independent_students():
    bank = StudentBank(BankConfig(n_features=7, n_students=4, hidden=5, n_outputs=2, adapter_dims=3), seed=1)
    with torch.no_grad():
        bank.w3.normal_()  # the init shrinks w3; make the outputs large enough to compare
    x = np.random.default_rng(0).normal(size=(6, 7)).astype(np.float32)
    out, latent = bank(torch.as_tensor(x))
    assert out.shape == (6, 4, 2) and latent.shape == (4, 6, 5)
    for s in range(4):
        ref_out, ref_latent = numpy_student(bank, s, x)
        np.testing.assert_allclose(out[:, s].detach().numpy(), ref_out, atol=1e-5)
        np.testing.assert_allclose(latent[s].detach().numpy(), ref_latent, atol=1e-5)
    adapted = bank.adapt(latent).detach().numpy()
    np.testing.assert_allclose(adapted[:, 2], latent[2].detach().numpy() @ bank.adapter[2].detach().numpy(), atol=1e-5)


def test_params_per_student_counts_the_served_parameters():
    cfg = BankConfig(n_features=56, n_students=3, hidden=64, n_outputs=1, adapter_dims=32)
    bank = StudentBank(cfg)
    served = sum(p.numel() for name, p in bank.named_parameters() if name != "adapter")
    assert served == 3 * cfg.params_per_student


def test_hidden_for_params_is_the_largest_width_that_fits():
    for params in (5_000, 40_000, MAX_STUDENT_PARAMS):
        h = hidden_for_params(56, 3, params)
        assert BankConfig(56, hidden=h, n_outputs=3).params_per_student <= params
        assert (56 * (h + 1) + (h + 1) + (h + 1) ** 2 + (h + 1) + 3 * (h + 1) + 3) > params


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hidden": 400}, "per student exceeds"),
        ({"hidden": 64, "n_students": 80}, "500000"),
        ({"hidden": 0}, "hidden"),
        ({"adapter_dims": -1}, "adapter_dims"),
    ],
)
def test_bank_config_refuses_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BankConfig(n_features=56, **kwargs)


def test_normalizer_standardises_and_clips():
    norm = Normalizer(np.array([1.0, 0.0]), np.array([2.0, 0.0]), clip=3.0)
    out = norm(torch.tensor([[3.0, 5.0], [1.0, -100.0]])).numpy()
    np.testing.assert_allclose(out, [[1.0, 3.0], [0.0, -3.0]])  # zero std -> scale 1, then clipped


def test_single_student_outputs_target_units():
    bank = StudentBank(BankConfig(n_features=4, hidden=8, n_outputs=3, adapter_dims=0))
    model = SingleStudent(Normalizer(np.zeros(4), np.ones(4)), bank, TaskScale(np.array([1.0, 2.0, 3.0]), np.ones(3)))
    x = torch.zeros(2, 4)
    z, _ = model.standardized(x)
    np.testing.assert_allclose(model(x).detach().numpy(), z.detach().numpy() + [1.0, 2.0, 3.0], atol=1e-6)
    with pytest.raises(ValueError, match="no adapter"):
        bank.adapt(torch.zeros(1, 2, 8))


def test_price_scale_divides_price_columns_and_scales_tasks_back():
    # columns: 0 bid_deep, 1 ask_deep, 2 a price feature, 3 vol, 4 a size (not a price)
    price = PriceScale(5, price_index=[0, 1, 2, 3], vol_index=3, width_index=(0, 1), n_tasks=3, scaled_tasks=[0])
    x = torch.tensor([[-20.0, 20.0, 6.0, 3.0, 7.0], [-2.0, 2.0, 6.0, 30.0, 7.0], [0.0, 0.0, 6.0, -1.0, 7.0]])
    # s = 1 + max(vol, width / 4): the book's width floors a quiet row, the volatility scales an active one
    np.testing.assert_allclose(price.scale(x).numpy()[:, 0], [11.0, 31.0, 1.0])
    free = price.features(x).numpy()
    np.testing.assert_allclose(free[:, :4], x.numpy()[:, :4] / [[11.0], [31.0], [1.0]], rtol=1e-6)
    np.testing.assert_allclose(free[:, 4], 7.0)
    np.testing.assert_allclose(price.factor(x).numpy(), [[11.0, 1, 1], [31.0, 1, 1], [1.0, 1, 1]])
    # the same book in 1000x finer ticks gives the same scale-free row, up to the one-tick floor of s
    fine = x.clone()
    fine[:, :4] *= 1000.0
    np.testing.assert_allclose(price.features(fine).numpy()[:2, :4], free[:2, :4], rtol=0.1)
    np.testing.assert_allclose(price.features(fine).numpy()[:2, :4], x.numpy()[:2, :4] / [[10.0], [30.0]], rtol=1e-3)
    with pytest.raises(ValueError, match="outside"):
        PriceScale(5, [0, 9], 3, (0, 1), 3, [0])
    with pytest.raises(ValueError, match="scaled task"):
        PriceScale(5, [0], 3, (0, 1), 3, [3])


def test_single_student_with_price_scale_multiplies_back():
    bank = StudentBank(BankConfig(n_features=5, hidden=8, n_outputs=3, adapter_dims=0))
    with torch.no_grad():
        bank.w3.normal_()
    price = PriceScale(5, [0, 1, 2, 3], 3, (0, 1), 3, [0])
    model = SingleStudent(Normalizer(np.zeros(5), np.ones(5)), bank, TaskScale(np.zeros(3), np.ones(3)), price)
    x = torch.tensor([[-20.0, 20.0, 6.0, 3.0, 7.0]])
    z, _ = model.standardized(x)
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), z.numpy() * [[11.0, 1.0, 1.0]], rtol=1e-6)
        np.testing.assert_allclose(z.numpy(), bank(price.features(x))[0][:, 0].numpy(), rtol=1e-6)


def test_slice_validates():
    assert Slice(task=0, regime=None, layers=(3, 3)).layers == (3, 3)
    with pytest.raises(ValueError, match="layers"):
        Slice(task=0, regime=1, layers=(5, 2))
    with pytest.raises(ValueError, match="negative"):
        Slice(task=-1, regime=1, layers=(0, 2))
