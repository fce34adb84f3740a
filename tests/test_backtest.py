import numpy as np
import pytest

from lob.backtest import Fees, StrategyInputs, episode_bounds, run_episode
from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset
from lob.quoting import QuoteParams

T0 = 1_700_000_000_000_000_000
GRID = 100_000_000  # 100 ms
# one lot of 0.1 on each side, quoted at reserve -/+ 1 tick: joins a 2-tick book at its touch
PARAMS = QuoteParams(min_half_spread=1.0, skew_ticks=0.0, max_inventory=1.0, size_fraction=1.0, lot=0.1, max_size=0.1)
NO_FEES = Fees(maker_bps=0.0, taker_bps=0.0)


def tiny_book(best_bid, best_ask, trades=(), top_size=1.0) -> Dataset:
    """Two-level book on a 100 ms grid; trades as (ms after the first snapshot, px, size, side)."""
    best_bid, best_ask = np.asarray(best_bid, np.int64), np.asarray(best_ask, np.int64)
    n = len(best_bid)
    tr = np.zeros(len(trades), TRADE_DTYPE)
    for i, (ms, px, sz, side) in enumerate(trades):
        tr[i] = (T0 + int(ms * 1e6), px, sz, side)
    sizes = np.column_stack([np.full(n, top_size), np.ones(n)])
    return Dataset(
        symbol="TINY",
        venue="test",
        tick=1.0,
        grid_ns=GRID,
        ts_ns=T0 + np.arange(n, dtype=np.int64) * GRID,
        bid_px=np.column_stack([best_bid, best_bid - 1]),
        bid_sz=sizes.copy(),
        ask_px=np.column_stack([best_ask, best_ask + 1]),
        ask_sz=sizes.copy(),
        trades=tr,
    ).validate()


def flat_inputs(n: int, mid_change: float = 0.0) -> StrategyInputs:
    return StrategyInputs(
        mid_change=np.full(n, mid_change),
        spread=np.zeros(n),
        log_volume=np.zeros(n),
        skew_per_unit=np.zeros(n),
        active=np.ones(n, bool),
    )


def replay(ds: Dataset, latency_ms: float = 0.0, params: QuoteParams = PARAMS, fees: Fees = NO_FEES, inputs=None):
    return run_episode(ds, 0, ds.n, inputs or flat_inputs(ds.n), params, int(latency_ms * 1e6), fees)


def maker_fills(res):
    return res.fills[~res.fills["taker"]]


def test_trade_through_the_bid_fills_it_at_the_bid_price():
    ds = tiny_book([100] * 5, [102] * 5, trades=[(150, 99, 0.05, SELL)])
    fills = maker_fills(replay(ds))
    assert len(fills) == 1
    assert (fills["side"][0], fills["px"][0], fills["sz"][0]) == (1, 100.0, 0.1)  # the whole quote, at our price
    assert fills["row"][0] == 2  # the trade at 150 ms lies in step (100, 200] ms


def test_a_touch_alone_does_not_fill():
    # the best bid sits at our price throughout and a trade at our price is smaller than the queue ahead
    ds = tiny_book([100] * 6, [102] * 6, trades=[(150, 100, 0.5, SELL)])
    res = replay(ds)
    assert len(maker_fills(res)) == 0
    assert res.inventory[-1] == 0.0


def test_trades_at_our_price_fill_only_after_the_queue_ahead():
    # queue ahead 1.0: 0.6 then 0.45 at our price leave 0.05 for us
    ds = tiny_book([100] * 6, [102] * 6, trades=[(150, 100, 0.6, SELL), (250, 100, 0.45, SELL)])
    fills = maker_fills(replay(ds))
    assert len(fills) == 1
    assert fills["sz"][0] == pytest.approx(0.05)


def test_a_new_order_after_a_full_fill_joins_the_back_of_the_queue():
    # 1.2 at our price: 1.0 ahead of us, 0.1 fills us in full; the next order at 100 waits behind 1.0 again
    ds = tiny_book([100] * 6, [102] * 6, trades=[(150, 100, 1.2, SELL), (350, 100, 0.5, SELL)])
    fills = maker_fills(replay(ds))
    assert len(fills) == 1 and fills["sz"][0] == pytest.approx(0.1)


def test_a_quote_inside_the_spread_has_no_queue_ahead():
    ds = tiny_book([100] * 4, [104] * 4, trades=[(150, 101, 0.05, SELL)])  # our bid improves to 101
    fills = maker_fills(replay(ds))
    assert (fills["px"][0], fills["sz"][0]) == (101.0, 0.05)


def test_the_opposite_touch_moving_through_fills():
    ds = tiny_book([100, 100, 98, 98], [102, 102, 100, 100])  # the ask comes down to our bid at 100
    fills = maker_fills(replay(ds))
    assert len(fills) == 1
    assert (fills["side"][0], fills["px"][0], fills["row"][0]) == (1, 100.0, 2)


def test_latency_delays_the_quote():
    # decided at t=0 ms; a trade through the bid at 60 ms
    ds = tiny_book([100] * 4, [102] * 4, trades=[(60, 99, 1.0, SELL)])
    assert len(maker_fills(replay(ds, latency_ms=10))) == 1
    assert len(maker_fills(replay(ds, latency_ms=80))) == 0  # not live yet at 60 ms
    late = tiny_book([100] * 4, [102] * 4, trades=[(90, 99, 1.0, SELL)])
    assert len(maker_fills(replay(late, latency_ms=80))) == 1


def test_strategy_at_the_inventory_limit_stops_quoting_that_side():
    params = PARAMS.with_overrides({"max_inventory": 0.1})
    trades = [(150, 99, 1.0, SELL), (350, 99, 1.0, SELL), (550, 99, 1.0, SELL)]
    res = replay(tiny_book([100] * 8, [102] * 8, trades=trades), params=params)
    fills = maker_fills(res)
    assert len(fills) == 1 and res.inventory.max() == pytest.approx(0.1)
    assert np.all(res.quoted_bid[2:-1] == 0.0)  # long at the limit from step 2: no bid
    assert np.all(res.quoted_ask[2:-1] > 0.0)  # still offering to sell
    assert not res.two_sided[3:].any()


def test_flatten_at_the_end_pays_half_spread_and_taker_fee():
    ds = tiny_book([100] * 4, [102] * 4, trades=[(150, 99, 1.0, SELL)])
    res = replay(ds, fees=Fees(maker_bps=0.0, taker_bps=10.0))
    flat = res.fills[res.fills["taker"]]
    assert (flat["side"][0], flat["px"][0], flat["sz"][0]) == (-1, 100.0, 0.1)
    assert flat["fee"][0] == pytest.approx(100.0 * 0.1 * 10e-4)
    # bought at 100 against mid 101 (+0.1), sold at 100 against mid 101 (-0.1), minus the fee
    assert res.epnl == pytest.approx(-0.01)
    assert res.spread_pnl == pytest.approx(0.0)


def random_book(seed: int, n: int = 600) -> Dataset:
    rng = np.random.default_rng(seed)
    bid = 1000 + np.cumsum(rng.integers(-1, 2, n) * (rng.random(n) < 0.3))
    ask = bid + rng.integers(1, 4, n)
    m = 3 * n
    tr = np.zeros(m, TRADE_DTYPE)
    tr["ts_ns"] = np.sort(rng.integers(T0, T0 + (n - 1) * GRID, m))
    step = np.searchsorted(T0 + np.arange(n) * GRID, tr["ts_ns"])
    tr["side"] = np.where(rng.random(m) < 0.5, BUY, SELL)
    tr["px"] = np.where(tr["side"] == BUY, ask[step], bid[step]) + rng.integers(-1, 2, m) * tr["side"]
    tr["sz"] = rng.exponential(0.5, m)
    ds = tiny_book(bid, ask)
    return Dataset(**{**ds.__dict__, "trades": tr}).validate()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pnl_split_adds_up_to_epnl(seed: int):
    ds = random_book(seed)
    rng = np.random.default_rng(seed)
    inputs = StrategyInputs(
        mid_change=rng.normal(0, 1, ds.n),
        spread=rng.uniform(0, 4, ds.n),
        log_volume=rng.uniform(0, 2, ds.n),
        skew_per_unit=np.full(ds.n, 2.0),
        active=rng.random(ds.n) < 0.9,
    )
    params = QuoteParams(min_half_spread=0.5, skew_ticks=1.0, max_inventory=1.0, size_fraction=0.2, lot=0.01)
    res = run_episode(
        ds,
        50,
        550,
        inputs=StrategyInputs(
            *(getattr(inputs, f)[50:550] for f in ("mid_change", "spread", "log_volume", "skew_per_unit", "active"))
        ),
        params=params,
        latency_ns=30_000_000,
        fees=Fees(maker_bps=-0.5, taker_bps=3.0),
    )
    assert len(res.fills) > 20
    assert res.spread_pnl + res.inventory_pnl - res.fees == pytest.approx(res.epnl, rel=1e-12, abs=1e-9)
    assert np.abs(res.inventory).max() <= 1.0 + 1e-12
    assert res.equity[0] == 0.0


def test_bad_inputs_are_named():
    ds = tiny_book([100] * 4, [102] * 4)
    with pytest.raises(ValueError, match="spread"):
        run_episode(
            ds,
            0,
            4,
            StrategyInputs(np.zeros(4), np.zeros(3), np.zeros(4), np.zeros(4), np.ones(4, bool)),
            PARAMS,
            0,
            NO_FEES,
        )
    with pytest.raises(ValueError, match="rows"):
        run_episode(ds, 3, 9, flat_inputs(6), PARAMS, 0, NO_FEES)


def test_episode_bounds_chunk_by_time_and_drop_a_short_tail():
    ts = T0 + np.arange(1000, dtype=np.int64) * GRID  # 100 s
    bounds = episode_bounds(ts, np.arange(100, 1000), minutes=0.5)  # 90 s -> three 30 s chunks
    assert bounds == [(100, 400), (400, 700), (700, 1000)]
    assert episode_bounds(ts, np.arange(0, 400), minutes=0.5) == [(0, 300)]  # 10 s tail dropped
