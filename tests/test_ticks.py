"""Tick inference from decimal strings and checked conversion to integer ticks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lob.ticks import gcd_units, infer_tick, tick_map, to_ticks


@pytest.mark.parametrize(
    ("prices", "tick"),
    [
        (["61837.63000000", "61837.60000000", "61837.00000000"], 0.01),  # Binance spot: trailing zeros ignored
        (["61800.20", "61800.30", "61799.90"], 0.1),  # USD-M BTCUSDT
        (["78318.0", "78319.0"], 1.0),  # Bitstamp
        (["2.5", "5", "7.5"], 2.5),
        (["100", "300"], 100.0),
        (["1e-05", "3e-05"], 1e-05),
    ],
)
def test_infer_tick(prices, tick):
    assert infer_tick(prices) == tick


@given(st.sampled_from([0.0001, 0.01, 0.1, 0.5, 1.0, 25.0]), st.lists(st.integers(1, 10**9), min_size=1))
def test_inferred_tick_round_trips_prices(tick, ks):
    ks = ks + [ks[0] + 1]  # two neighbours make the gcd exactly one tick
    texts = [f"{k * tick:.4f}" for k in ks]
    assert infer_tick(texts) == tick
    mapping = tick_map(texts, tick)
    assert [mapping[t] for t in texts] == ks


def test_infer_tick_rejects_non_numbers_naming_where():
    with pytest.raises(ValueError, match=r"f\.gz: price 'abc' is not a number"):
        infer_tick(["1.0", "abc"], where="f.gz")
    with pytest.raises(ValueError, match="without any price"):
        infer_tick([])
    with pytest.raises(ValueError, match="every price is zero"):
        infer_tick(["0.00"])


def test_to_ticks_is_exact_and_rejects_off_grid_prices():
    assert to_ticks(np.array([61837.63, 0.01, 2683.8]), 0.01).tolist() == [6183763, 1, 268380]
    with pytest.raises(ValueError, match=r"book\.csv: price 61837\.635 is not a multiple of the tick 0\.01 \(1 such\)"):
        to_ticks(np.array([61837.63, 61837.635]), 0.01, where="book.csv")
    with pytest.raises(ValueError, match="tick must be a positive number"):
        to_ticks(np.array([1.0]), 0.0)


def test_gcd_units_ignores_zeros_and_signs():
    assert gcd_units(np.array([0, 200, -300, 500])) == 100
    with pytest.raises(ValueError, match="non-zero price"):
        gcd_units(np.array([0, 0]))
