from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lob.targets import fit_regime_edges, regimes, split_slices, targets
from tests.synthetic import synthetic_dataset

H = 20


def test_targets_by_hand():
    ds = synthetic_dataset(0, n=100)
    y = targets(ds, H)
    mid = (ds.bid_px[:, 0] + ds.ask_px[:, 0]) / 2
    assert y[5, 0] == mid[5 + H] - mid[5]
    assert y[5, 1] == ds.ask_px[5 + H, 0] - ds.bid_px[5 + H, 0]
    t = ds.trades
    inside = (t["ts_ns"] > ds.ts_ns[5]) & (t["ts_ns"] <= ds.ts_ns[5 + H])
    assert y[5, 2] == pytest.approx(np.log1p(t["sz"][inside].sum()))
    assert np.isnan(y[-H:]).all() and not np.isnan(y[:-H]).any()


def test_volume_substitute_without_trades():
    ds = synthetic_dataset(1, n=60)
    y = targets(replace(ds, has_trades=False), H)
    assert np.isfinite(y[:-H, 2]).all() and (y[:-H, 2] >= 0).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(1, 150))
def test_targets_ignore_the_past(seed: int, t: int):
    ds = synthetic_dataset(seed, n=200)
    other = synthetic_dataset(seed + 1, n=200)
    # Replace every snapshot before t (and the trades up to ts[t]) with another history.
    early = other.trades[other.trades["ts_ns"] <= ds.ts_ns[t]]
    late = ds.trades[ds.trades["ts_ns"] > ds.ts_ns[t]]
    changed = replace(
        ds,
        bid_px=np.concatenate([other.bid_px[:t], ds.bid_px[t:]]),
        ask_px=np.concatenate([np.maximum(other.ask_px[:t], other.bid_px[:t] + 1), ds.ask_px[t:]]),
        bid_sz=np.concatenate([other.bid_sz[:t], ds.bid_sz[t:]]),
        ask_sz=np.concatenate([other.ask_sz[:t], ds.ask_sz[t:]]),
        trades=np.concatenate([early, late]),
    )
    np.testing.assert_array_equal(targets(ds, H)[t:], targets(changed, H)[t:])


def test_regime_edges_terciles_and_quiet_books():
    vol = np.arange(300, dtype=float)
    edges = fit_regime_edges(vol)
    assert np.bincount(regimes(vol, edges)).tolist() == [100, 100, 100]
    quiet = np.concatenate([np.zeros(200), np.arange(1, 101, dtype=float)])
    edges = fit_regime_edges(quiet)
    assert edges[0] == 0 and np.bincount(regimes(quiet, edges)).tolist() == [200, 50, 50]


def test_splits_are_chronological_with_gaps():
    s = split_slices(1000, H)
    assert s["train"].stop + H == s["val"].start
    assert s["val"].stop + H == s["test"].start
    assert s["test"].stop == 1000
    with pytest.raises(ValueError, match="fractions"):
        split_slices(1000, H, (0.5, 0.5, 0.5))
