import numpy as np
import pytest

from lob.stats import paired_bootstrap, ratio_of_means_interval


def test_a_clear_difference_is_significant_and_its_interval_excludes_zero():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 40)
    r = paired_bootstrap(base + 1.0 + rng.normal(0, 0.1, 40), base, seed=1)
    assert r["mean_diff"] == pytest.approx(1.0, abs=0.1)
    assert r["ci_low"] > 0.5 and r["p_value"] < 0.01


def test_identical_series_are_not_different():
    x = np.random.default_rng(2).normal(0, 1, 30)
    r = paired_bootstrap(x, x + np.random.default_rng(3).normal(0, 1e-3, 30))
    assert r["ci_low"] < 0 < r["ci_high"] or r["p_value"] > 0.05


def test_ratio_interval_brackets_the_ratio_of_means():
    rng = np.random.default_rng(4)
    num, den = rng.normal(2.0, 0.5, 50), rng.uniform(0.5, 1.5, 50)
    lo, hi = ratio_of_means_interval(num, den)
    assert lo < num.mean() / den.mean() < hi
    assert np.isnan(ratio_of_means_interval(num, np.zeros(50))[0])


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="equal-length"):
        paired_bootstrap(np.zeros(3), np.zeros(4))
