"""Per-symbol windows: the last records, gap reset, LRU bound, stale and tick checks."""

from __future__ import annotations

import pytest

from lob.features import WINDOW
from server.errors import RequestError
from server.state import SymbolStates

LEVELS = 1
GAP = 1_000


def record(k: int) -> list[float]:
    """A one-level record whose mid is k."""
    return [float(k), float(k), 1.0, 1.0, 0.0, 0.0]


def test_window_is_the_last_records_oldest_first():
    states = SymbolStates(LEVELS, max_symbols=4, max_gap_ns=GAP)
    for k in range(3 * WINDOW + 7):
        window = states.push("A", k, 0.01, record(k))
        assert list(window.mids) == [float(j) for j in range(max(0, k - WINDOW + 1), k + 1)]
        assert window.warm == (k >= WINDOW - 1) and window.row == record(k) and window.last_ts == k


def test_a_long_gap_restarts_the_window():
    states = SymbolStates(LEVELS, max_symbols=4, max_gap_ns=GAP)
    for k in range(WINDOW):
        states.push("A", k * 100, 0.01, record(k))
    window = states.push("A", (WINDOW - 1) * 100 + GAP + 1, 0.01, record(-1))
    assert list(window.mids) == [-1.0] and not window.warm
    window = states.push("A", (WINDOW - 1) * 100 + GAP + 2, 0.01, record(-2))
    assert list(window.mids) == [-1.0, -2.0]


def test_least_recently_used_symbol_is_evicted():
    states = SymbolStates(LEVELS, max_symbols=2, max_gap_ns=GAP)
    states.push("A", 1, 0.01, record(1))
    states.push("B", 1, 0.01, record(1))
    states.push("A", 2, 0.01, record(2))  # A is now the most recent
    states.push("C", 1, 0.01, record(1))
    assert "A" in states and "C" in states and "B" not in states and len(states) == 2


def test_check_refuses_old_or_equal_timestamps():
    states = SymbolStates(LEVELS, max_symbols=2, max_gap_ns=GAP)
    states.check("A", 5)  # unknown symbols pass
    states.push("A", 5, 0.01, record(1))
    for ts in (5, 4):
        with pytest.raises(RequestError) as caught:
            states.check("A", ts, "snapshots[1].")
        assert (caught.value.status, caught.value.field) == (409, "snapshots[1].ts_ns")
    states.check("A", 6)


def test_a_new_tick_restarts_the_window():
    states = SymbolStates(LEVELS, max_symbols=2, max_gap_ns=GAP)
    for k in range(3):
        states.push("A", k, 0.01, record(k))
    window = states.push("A", 3, 0.1, record(3))
    assert list(window.mids) == [3.0] and window.tick == 0.1
