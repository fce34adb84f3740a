import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lob.quoting import QuoteParams, make_quote, make_quotes

P = QuoteParams(min_half_spread=0.5, skew_ticks=2.0, max_inventory=1.0, size_fraction=0.1, lot=0.01, max_size=0.5)


def quote(**kw):
    args = dict(
        best_bid=100,
        best_ask=101,
        pred_mid_change=0.0,
        pred_spread=1.0,
        pred_log_volume=np.log1p(2.0),
        inventory=0.0,
        params=P,
    )
    args.update(kw)
    return make_quotes(**args)


def test_flat_prediction_joins_the_touch():
    q = quote()
    assert (q.bid_tick, q.ask_tick) == (100, 101)
    assert q.bid_sz == pytest.approx(0.2) and q.ask_sz == pytest.approx(0.2)


def test_post_only_even_when_the_fair_price_is_far_away():
    up = quote(pred_mid_change=50.0)
    down = quote(pred_mid_change=-50.0)
    assert up.bid_tick == 100 and up.ask_tick > 101  # never a bid at or above the best ask
    assert down.ask_tick == 101 and down.bid_tick < 100  # never an ask at or below the best bid


def test_wide_predicted_spread_widens_quotes_on_the_grid():
    q = quote(pred_spread=6.0)
    assert (q.bid_tick, q.ask_tick) == (97, 104)
    assert q.bid_tick.dtype == np.int64


def test_long_inventory_skews_down_and_stops_buying_at_the_limit():
    q = quote(inventory=1.0)
    assert q.bid_sz == 0.0 and q.ask_sz > 0
    assert q.bid_tick < 100
    short = quote(inventory=-1.0)
    assert short.ask_sz == 0.0 and short.bid_sz > 0


def test_vectorised_over_a_batch():
    q = quote(
        best_bid=np.array([100, 200]),
        best_ask=np.array([101, 203]),
        pred_mid_change=np.zeros(2),
        pred_spread=np.ones(2),
        pred_log_volume=np.zeros(2),
        inventory=np.zeros(2),
    )
    assert q.bid_tick.tolist() == [100, 201] and q.ask_tick.tolist() == [101, 202]  # inside the wide spread
    assert (q.bid_sz == P.lot).all()  # the smallest size is one lot


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="max_inventory"):
        QuoteParams(max_inventory=0)
    with pytest.raises(ValueError, match="min_half_spread"):
        QuoteParams(min_half_spread=0)
    with pytest.raises(ValueError, match="unknown quote parameters: bogus"):
        P.with_overrides({"bogus": 1})


@settings(max_examples=300, deadline=None)
@given(
    best_bid=st.integers(1, 10**7),
    width=st.integers(1, 50),
    mid_change=st.floats(-500, 500),
    spread=st.floats(0, 100),
    log_volume=st.floats(-5, 60),
    inventory=st.floats(-1.5, 1.5),
    skew=st.floats(0, 10),
)
def test_scalar_path_equals_vectorised(best_bid, width, mid_change, spread, log_volume, inventory, skew):
    params = QuoteParams(skew_ticks=skew, lot=0.001, max_size=1.0, size_fraction=0.1, max_inventory=1.0)
    args = (best_bid, best_bid + width, mid_change, spread, log_volume, inventory, params)
    one, [many] = make_quote(*args), make_quotes(*args).rows()
    assert type(one.bid_tick) is type(one.ask_tick) is int
    assert (one.bid_tick, one.ask_tick) == (many.bid_tick, many.ask_tick)
    for field in ("bid_sz", "ask_sz", "fair_tick"):
        assert abs(getattr(one, field) - getattr(many, field)) <= 1e-9, field
