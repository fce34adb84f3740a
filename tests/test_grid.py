"""Sampling book states onto the time grid, trade clipping, and the snapshot options."""

import numpy as np
import pytest

from lob.dataset import BUY, SELL, TRADE_DTYPE
from lob.grid import SnapshotOptions, grid_ends, longest_quiet_ms, sample, trades_in_span

MS = 1_000_000
GRID = 100 * MS


def test_grid_ends_are_multiples_inside_the_span():
    assert (grid_ends(5 * MS, 310 * MS, GRID) // MS).tolist() == [100, 200, 300]
    assert (grid_ends(100 * MS, 300 * MS, GRID) // MS).tolist() == [100, 200, 300]
    assert len(grid_ends(101 * MS, 199 * MS, GRID)) == 0
    with pytest.raises(ValueError, match="positive"):
        grid_ends(0, 1, 0)


def test_sample_takes_the_last_state_at_or_before_each_step_end():
    state_ts = np.array([5, 120, 130, 200, 200, 450], dtype=np.int64) * MS
    ts, idx = sample(state_ts, GRID)
    assert (ts // MS).tolist() == [100, 200, 300, 400]
    assert idx.tolist() == [0, 4, 4, 4]  # 200 ms itself is inside the step ending at 200; quiet steps carry forward


def test_sample_rejects_no_states_backwards_times_and_too_short_spans():
    with pytest.raises(ValueError, match="no valid book state"):
        sample(np.empty(0, np.int64), GRID)
    with pytest.raises(ValueError, match="go backwards at state 2"):
        sample(np.array([5, 300, 200]) * MS, GRID)
    with pytest.raises(ValueError, match="less than one 100 ms grid step"):
        sample(np.array([110, 190]) * MS, GRID)


def test_trades_in_span_sorts_stably_and_keeps_the_snapshots_steps():
    trades = np.zeros(5, TRADE_DTYPE)
    trades["ts_ns"] = np.array([300, 0, 100, 1, 100]) * MS  # (0, 300] is inside for ts = [100, ..., 300]
    trades["side"] = [BUY, BUY, SELL, BUY, BUY]
    trades["px"] = [5, 1, 2, 3, 4]
    kept, dropped = trades_in_span(trades, np.array([100, 200, 300]) * MS, GRID)
    assert dropped == 1
    assert kept["px"].tolist() == [3, 2, 4, 5]
    assert kept.dtype == TRADE_DTYPE


def test_longest_quiet_ms():
    assert longest_quiet_ms(np.array([0, 10, 250]) * MS) == 240.0
    assert longest_quiet_ms(np.array([7])) == 0.0


def test_snapshot_options_validate_themselves():
    assert SnapshotOptions(grid_ms=0.5).grid_ns == 500_000
    for kwargs, field in [
        ({"levels": 0}, "levels"),
        ({"grid_ms": -1}, "grid_ms"),
        ({"grid_ms": 1e-7}, "grid_ms"),
        ({"tick": 0.0}, "tick"),
        ({"levels": 2.5}, "levels"),
    ]:
        with pytest.raises(ValueError, match=field):
            SnapshotOptions(**kwargs)
