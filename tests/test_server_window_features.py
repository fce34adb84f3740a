"""The server's fast window features give the numbers of `lob.features.features()` (the definition)."""

from __future__ import annotations

import numpy as np
import pytest

from lob.features import WINDOW, feature_names, features, features_last, records
from server.window_features import window_features
from tests.synthetic import synthetic_dataset


def windows(rec: np.ndarray):
    for t in range(len(rec)):
        yield t, rec[max(0, t - WINDOW + 1) : t + 1]


@pytest.mark.parametrize("levels", [10, 5, 1])
def test_equals_the_vectorised_features_on_every_row(levels):
    rec = records(synthetic_dataset(seed=levels, n=3 * WINDOW, levels=levels))
    full = features(rec)
    for t, window in windows(rec):
        fast = window_features(window, levels)
        assert fast.dtype == np.float32 and fast.shape == (len(feature_names(levels)),)
        np.testing.assert_allclose(fast, full[t], rtol=1e-6, atol=1e-6, err_msg=f"row {t}")
        np.testing.assert_allclose(fast, features_last(window), rtol=1e-6, atol=1e-6, err_msg=f"row {t}")


def test_equals_on_real_prices_with_empty_levels_and_trades():
    """Real BTC prices (6 million ticks), absent levels (size 0), bursts of trades, long windows."""
    ds = synthetic_dataset(seed=7, n=2 * WINDOW + 10)
    rec = records(ds)
    rec[:, : 2 * ds.levels] += 6_183_763 - 100_000  # BTCUSDT at 0.01 tick
    rec[::7, 2 * ds.levels + 8 : 2 * ds.levels + 10] = 0.0  # deep bid levels absent now and then
    rec[::5, -2] *= 1000
    full = features(rec)
    for t, window in windows(rec):
        np.testing.assert_allclose(window_features(window, ds.levels), full[t], rtol=1e-6, atol=1e-6)


def test_reads_only_the_last_window_rows():
    rec = records(synthetic_dataset(seed=3, n=2 * WINDOW))
    np.testing.assert_array_equal(window_features(rec, 10), window_features(rec[-WINDOW:], 10))
