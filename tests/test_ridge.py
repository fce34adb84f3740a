import numpy as np
import pytest

from export.ridge import fit_ridge, r2_score


def test_recovers_a_linear_map_with_little_penalty():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)) * [1, 10, 0.1, 3, 1] + 7
    w = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0], [-1.0, 1.0], [2.0, 0.5]])
    y = x @ w + [3.0, -1.0] + rng.normal(scale=0.01, size=(400, 2))
    model = fit_ridge(x, y)
    np.testing.assert_allclose(model.predict(x), y, atol=0.05)
    assert r2_score(y, model.predict(x)).min() > 0.999
    assert model.alpha.max() <= 1.0


def test_pure_noise_gets_a_heavy_penalty_and_no_held_out_skill():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 20)), rng.normal(size=300)
    model = fit_ridge(x, y)
    assert model.alpha[0] >= 100
    x_new, y_new = rng.normal(size=(300, 20)), rng.normal(size=300)
    assert r2_score(y_new, model.predict(x_new))[0] < 0.02


def test_constant_columns_and_targets_are_harmless():
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.normal(size=50), np.ones(50)])
    model = fit_ridge(x, np.full(50, 4.0))
    np.testing.assert_allclose(model.predict(x), 4.0)
    assert r2_score(np.full(5, 4.0), np.full(5, 3.0))[0] == 0.0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="3 rows"):
        fit_ridge(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        fit_ridge(np.full((5, 2), np.nan), np.zeros(5))
