import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lob.features import WINDOW, RollingFeatures, feature_names, features, record_width, records
from tests.synthetic import synthetic_dataset

LEVELS = 10


def synthetic_records(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mid = np.cumsum(rng.integers(-2, 3, n)) + 10_000
    spread = rng.integers(1, 4, n)
    bid = mid[:, None] - np.arange(LEVELS) - 0
    ask = mid[:, None] + spread[:, None] + np.arange(LEVELS)
    sizes = rng.exponential(1.0, (n, 2 * LEVELS))
    flow = rng.exponential(0.5, (n, 2)) * (rng.random((n, 2)) < 0.3)
    return np.column_stack([bid, ask, sizes, flow]).astype(np.float64)


def test_shape_and_names():
    rec = synthetic_records(0, 120)
    assert rec.shape[1] == record_width(LEVELS)
    out = features(rec)
    assert out.shape == (120, len(feature_names(LEVELS)))
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


def rolling(rec: np.ndarray):
    """(t, features of row t) from a RollingFeatures fed the rows one by one, as the server does (float32, as the
    model's input buffer holds them)."""
    online = RollingFeatures((rec.shape[1] - 2) // 4)
    for t, row in enumerate(rec.tolist()):
        online.push(row)
        yield t, np.array(online.features(), np.float32)


@pytest.mark.parametrize("levels", [10, 5, 1])
def test_rolling_path_equals_vectorised_on_every_row(levels):
    rec = records(synthetic_dataset(seed=levels, n=3 * WINDOW, levels=levels))
    full = features(rec)
    for t, fast in rolling(rec):
        assert fast.dtype == np.float32 and fast.shape == (len(feature_names(levels)),)
        np.testing.assert_allclose(fast, full[t], rtol=1e-6, atol=1e-6, err_msg=f"row {t}")


def test_rolling_path_on_real_prices_with_empty_levels_and_trades():
    """Real BTC prices (6 million ticks), absent levels (size 0), bursts of trades."""
    ds = synthetic_dataset(seed=7, n=2 * WINDOW + 10)
    rec = records(ds)
    rec[:, : 2 * ds.levels] += 6_183_763 - 100_000  # BTCUSDT at 0.01 tick
    rec[::7, 2 * ds.levels + 8 : 2 * ds.levels + 10] = 0.0  # deep bid levels absent now and then
    rec[::5, -2] *= 1000
    full = features(rec)
    for t, fast in rolling(rec):
        np.testing.assert_allclose(fast, full[t], rtol=1e-6, atol=1e-6, err_msg=f"row {t}")


def test_rolling_path_forgets_rows_older_than_the_window_and_restarts_when_cleared():
    rec = records(synthetic_dataset(seed=3, n=3 * WINDOW))
    online, fresh = RollingFeatures(10), RollingFeatures(10)
    for row in rec.tolist():
        online.push(row)
    for row in rec[-WINDOW:].tolist():
        fresh.push(row)
    assert len(online) == len(fresh) == WINDOW
    np.testing.assert_allclose(online.features(), fresh.features(), rtol=1e-6, atol=1e-6)
    online.clear()
    online.push(rec[0].tolist())
    np.testing.assert_array_equal(np.array(online.features(), np.float32), features(rec[:1])[0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(0, 2 * WINDOW - 2))
def test_features_ignore_the_future(seed: int, t: int):
    rec = synthetic_records(seed, 2 * WINDOW)
    changed = rec.copy()
    changed[t + 1 :] = synthetic_records(seed + 1, 2 * WINDOW)[t + 1 :]
    np.testing.assert_array_equal(features(rec)[: t + 1], features(changed)[: t + 1])
