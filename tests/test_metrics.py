import numpy as np
import pytest

from lob.backtest import FILL_DTYPE, EpisodeResult
from lob.metrics import (
    MARKOUT_S,
    activity_metrics,
    episode_metrics,
    fill_quality,
    forecast_errors,
    pnl_metrics,
    risk_metrics,
    summarise,
)


def hand_made() -> EpisodeResult:
    """Buy 1 at 99 (mid 100) in step 1, mid rises to 102; flatten sells at 101 (mid 102). Tick 0.5."""
    fills = np.array([(1, 0, 1, 99.0, 1.0, 0.0, False), (3, 3, -1, 101.0, 1.0, 0.25, True)], FILL_DTYPE)
    mid = np.array([100.0, 100.0, 102.0, 102.0])
    inventory = np.array([0.0, 1.0, 1.0, 1.0])
    cash = np.array([0.0, -49.5, -49.5, -49.5])
    return EpisodeResult(
        start=0,
        stop=4,
        tick=0.5,
        mid=mid,
        spread=np.full(4, 2.0),
        inventory=inventory,
        equity=cash + inventory * mid * 0.5,
        two_sided=np.array([False, True, False, True]),
        quoted_bid=np.array([1.0, 1.0, 0.0, 0.0]),
        quoted_ask=np.array([1.0, 1.0, 1.0, 0.0]),
        bid_hit=np.array([True, False, False, False]),
        ask_hit=np.zeros(4, bool),
        fills=fills,
        epnl=-49.5 + 50.5 - 0.25,
        spread_pnl=0.5 - 0.5,
        inventory_pnl=1.0,
        fees=0.25,
    )


def test_pnl_metrics_by_hand():
    m = pnl_metrics(hand_made())
    assert m["epnl"] == pytest.approx(0.75)
    assert m["map"] == pytest.approx(0.75)  # |q| = 0, 1, 1, 1
    assert m["nd_pnl"] == pytest.approx(0.75 / 1.0)  # mean spread 2 ticks = 1.0 currency
    assert m["spread_pnl"] + m["inventory_pnl"] - m["fees"] == pytest.approx(m["epnl"])


def test_activity_metrics_by_hand():
    m = activity_metrics(hand_made())
    assert m["fills"] == 1 and m["volume"] == 1.0
    assert m["fill_rate"] == pytest.approx(1.0 / 5.0)  # quoted 2 + 3
    assert m["bid_hit_rate"] == pytest.approx(0.5)
    assert m["ask_hit_rate"] == pytest.approx(0.0)
    assert m["two_sided"] == pytest.approx(2 / 3)  # steps 1..3


def test_markouts_and_adverse_selection_by_hand():
    mid = np.array([100.0, 101.0, 102.0, 102.0, 98.0, 98.0])
    m = fill_quality(hand_made(), mid, grid_s=1.0)
    assert m["spread_captured"] == pytest.approx(1.0)  # bought 1 tick under the mid
    assert m["markout_1s"] == pytest.approx(101 - 99)  # ref row 0 + 1 s
    assert m["markout_5s"] == pytest.approx(98 - 99)  # clipped to the last row
    assert m["adverse_selection_5s"] == pytest.approx(1.0 - (98 - 99))
    assert {f"markout_{h:g}s" for h in MARKOUT_S} <= set(m)


def test_no_fills_give_nan_not_zero():
    res = hand_made()
    empty = EpisodeResult(**{**res.__dict__, "fills": np.zeros(0, FILL_DTYPE), "bid_hit": np.zeros(4, bool)})
    m = fill_quality(empty, res.mid, 1.0)
    assert np.isnan(m["spread_captured"]) and np.isnan(m["markout_1s"])


def test_risk_metrics_by_hand():
    m = risk_metrics(hand_made(), grid_s=1.0)
    # equity 0, 0.5, 1.5, 1.5: changes 0.5, 1, 0; no drawdown
    assert m["max_drawdown"] == 0.0
    assert m["sharpe"] == pytest.approx(0.5 / np.std([0.5, 1.0, 0.0], ddof=1))
    assert np.isnan(m["sortino"])  # no downside


def test_forecast_errors():
    truth = np.array([[1.0, 2.0], [-1.0, 2.0], [0.0, 2.0], [np.nan, 1.0]])
    pred = np.array([[0.5, 2.0], [0.5, 3.0], [1.0, 2.0], [1.0, 1.0]])
    m = forecast_errors(pred, truth, ("mid_change", "spread"))
    assert m["forecast_rows"] == 3
    assert m["mid_change_mae"] == pytest.approx((0.5 + 1.5 + 1.0) / 3)
    assert m["spread_rmse"] == pytest.approx(np.sqrt(1 / 3))
    assert m["mid_change_direction_acc"] == pytest.approx(0.5)


def test_summarise_is_a_ratio_of_means():
    eps = [{"epnl": 1.0, "map": 1.0}, {"epnl": 3.0, "map": 0.0}]
    s = summarise(eps)
    assert s["pnl_map"] == pytest.approx(2.0 / 0.5)  # not the mean of 1/1 and 3/0
    assert s["epnl_sd"] == pytest.approx(np.sqrt(2.0))
    assert s["episodes"] == 2
    with pytest.raises(ValueError):
        summarise([])


def test_episode_metrics_has_every_group():
    res = hand_made()
    m = episode_metrics(res, res.mid, 1.0)
    for key in ("epnl", "map", "nd_pnl", "sharpe", "max_drawdown", "fill_rate", "two_sided", "markout_30s"):
        assert key in m
