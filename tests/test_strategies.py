import numpy as np
import pytest

from lob.backtest import Fees, run_episode
from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset
from lob.strategies import (
    Market,
    avellaneda_stoikov,
    classic_strategies,
    fit_intensity,
    forecast_strategy,
    glft,
    glft_coefficients,
    join_touch,
    oracle,
    partial_predictions,
)
from lob.table import build_table

T0 = 1_700_000_000_000_000_000
GRID = 100_000_000


def book_with_trades(seed: int, n: int = 3000, k: float = 0.8, levels: int = 10) -> Dataset:
    """A random-walk book with a 1-3 tick spread; trade distances from the mid ~ 0.5 + Exp(k) on half ticks."""
    rng = np.random.default_rng(seed)
    bid = 100_000 + np.cumsum(rng.integers(-1, 2, n) * (rng.random(n) < 0.2))
    spread = rng.integers(1, 4, n)
    m = 4 * n
    tr = np.zeros(m, TRADE_DTYPE)
    tr["ts_ns"] = np.sort(rng.integers(T0 + 1, T0 + (n - 1) * GRID, m))
    before = np.searchsorted(T0 + np.arange(n) * GRID, tr["ts_ns"]) - 1
    mid2 = 2 * bid[before] + spread[before]  # twice the mid
    tr["side"] = np.where(rng.random(m) < 0.5, BUY, SELL)
    half_ticks = 1 + np.floor(rng.exponential(1 / k, m) * 2)  # distance in half ticks
    px2 = mid2 + tr["side"] * half_ticks
    tr["px"] = np.where(px2 % 2 == 0, px2, px2 + tr["side"]) // 2  # onto the tick grid, away from the mid
    tr["sz"] = rng.exponential(0.3, m)
    return Dataset(
        symbol=f"SYN{seed}",
        venue="test",
        tick=0.5,
        grid_ns=GRID,
        ts_ns=T0 + np.arange(n, dtype=np.int64) * GRID,
        bid_px=bid[:, None] - np.arange(levels),
        bid_sz=rng.exponential(1.0, (n, levels)) + 0.01,
        ask_px=(bid + spread)[:, None] + np.arange(levels),
        ask_sz=rng.exponential(1.0, (n, levels)) + 0.01,
        trades=tr,
    ).validate()


@pytest.fixture(scope="module")
def market() -> Market:
    datasets = [book_with_trades(0), book_with_trades(1, n=2000)]
    return Market(datasets, build_table(datasets, horizon=20))


def test_fit_intensity_recovers_a_decaying_arrival_rate():
    ds = book_with_trades(2, n=4000, k=0.8)
    a, k = fit_intensity(ds, 0, ds.n)
    assert 0.4 < k < 1.6  # the tick grid coarsens the drawn k = 0.8
    assert a > len(ds.trades) / (ds.n * 0.1) * 0.5  # at least the rate at the touch


def test_fits_use_training_rows_only(market: Market):
    ds = market.datasets[0]
    rows = market.train_rows(0)
    assert rows[-1] < 0.7 * ds.n
    changed = Dataset(**{**ds.__dict__, "trades": ds.trades[ds.trades["ts_ns"] <= ds.ts_ns[rows[-1]]]})
    again = Market([changed, market.datasets[1]], build_table([changed, market.datasets[1]], 20))
    assert again.fits[0].intensity_k == pytest.approx(market.fits[0].intensity_k)
    assert again.fits[0].sigma2_per_s == pytest.approx(market.fits[0].sigma2_per_s)


def test_glft_coefficients_by_hand():
    c1, c2 = glft_coefficients(gamma=0.1, a=2.0, k=1.0)
    assert c1 == pytest.approx(np.log(1.1) / 0.1)
    assert c2 == pytest.approx(np.sqrt(0.1 / 4.0 * 1.1**11))


def test_avellaneda_stoikov_skew_vanishes_at_the_episode_end(market: Market):
    fit = market.fits[0]
    for cand in avellaneda_stoikov(market).candidates(0):
        x = cand.inputs(100, 400)
        assert x.skew_per_unit[0] > x.skew_per_unit[-1] == 0.0
        gamma = cand.knobs["gamma"]
        assert x.spread[-1] == pytest.approx(2 / gamma * np.log1p(gamma / fit.intensity_k))
        assert np.all(x.mid_change == 0.0)


def test_glft_quotes_are_constant_in_time(market: Market):
    for cand in glft(market).candidates(1):
        x = cand.inputs(0, 50)
        assert np.all(x.spread == x.spread[0]) and np.all(x.skew_per_unit == x.skew_per_unit[0]) and x.spread[0] > 0


def test_join_touch_quotes_the_best_bid_and_ask(market: Market):
    from lob.quoting import make_quotes

    ds = market.datasets[0]
    cand = join_touch(market).candidates(0)[0]
    x = cand.inputs(200, 300)
    q = make_quotes(
        ds.bid_px[200:300, 0], ds.ask_px[200:300, 0], x.mid_change, x.spread, x.log_volume, 0.0, cand.params
    )
    np.testing.assert_array_equal(q.bid_tick, ds.bid_px[200:300, 0])
    np.testing.assert_array_equal(q.ask_tick, ds.ask_px[200:300, 0])


def test_oracle_feeds_the_true_future(market: Market):
    x = oracle(market).candidates(1)[0].inputs(10, 60)
    rows = market.table_rows(1, 10, 60)
    np.testing.assert_array_equal(x.mid_change, market.table.Y[rows, 0])
    np.testing.assert_array_equal(x.spread, market.table.Y[rows, 1])


def test_every_candidate_runs_through_the_backtest(market: Market):
    ds = market.datasets[1]
    for strategy in [*classic_strategies(market), oracle(market)]:
        cands = strategy.candidates(1)
        assert len(cands) >= (1 if strategy.name == "join_touch" else 4)
        res = run_episode(ds, 1500, 1800, cands[0].inputs(1500, 1800), cands[0].params, 10_000_000, Fees())
        assert res.spread_pnl + res.inventory_pnl - res.fees == pytest.approx(res.epnl, abs=1e-9)


def test_forecast_strategy_checks_the_shape(market: Market):
    with pytest.raises(ValueError, match="shape"):
        forecast_strategy("bad", market, np.zeros((5, 3)))


def test_partial_predictions_hold_the_latest_within_age_and_dataset():
    dataset_id = np.array([0] * 6 + [1] * 4)
    values = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])
    pred, active = partial_predictions(10, np.array([5, 1, 7]), values[[1, 0, 2]], dataset_id, max_age=2)
    assert active.tolist() == [False, True, True, True, False, True, False, True, True, True]
    np.testing.assert_array_equal(pred[3], values[0])  # row 1's forecast, 2 rows old
    assert np.isnan(pred[6]).all()  # row 6 starts dataset 1: row 5's forecast does not carry over
    np.testing.assert_array_equal(pred[9], values[2])
    assert np.isnan(pred[4]).all()
    with pytest.raises(ValueError, match="outside"):
        partial_predictions(10, np.array([12]), values[:1], dataset_id, 2)
