import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lob.features import WINDOW, feature_names, features, features_last, record_width

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


def test_single_step_path_equals_vectorised():
    rec = synthetic_records(1, 3 * WINDOW)
    full = features(rec)
    for t in range(len(rec)):
        online = features_last(rec[max(0, t - WINDOW + 1) : t + 1])
        np.testing.assert_allclose(online, full[t], rtol=1e-6, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(0, 2 * WINDOW - 2))
def test_features_ignore_the_future(seed: int, t: int):
    rec = synthetic_records(seed, 2 * WINDOW)
    changed = rec.copy()
    changed[t + 1 :] = synthetic_records(seed + 1, 2 * WINDOW)[t + 1 :]
    np.testing.assert_array_equal(features(rec)[: t + 1], features(changed)[: t + 1])
