"""`lob.info`: dataset statistics on a hand-built dataset whose numbers are known."""

import numpy as np

from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset
from lob.info import dataset_info, format_info

T0 = 1_723_161_600_000_000_000  # 2024-08-09 00:00:00 UTC
GRID = 100_000_000


def _dataset(n: int = 200) -> Dataset:
    spread = np.where(np.arange(n) % 2 == 0, 1, 2)
    best_bid = 1000 + (np.arange(n) // 10)  # the mid rises one tick every 10 steps
    bid_px = best_bid[:, None] - np.arange(3)
    ask_px = (best_bid + spread)[:, None] + np.arange(3)
    sizes = np.tile([1.0, 2.0, 0.0], (n, 1))  # the third level is absent
    trades = np.zeros(4, TRADE_DTYPE)
    trades["ts_ns"] = T0 + np.array([1, 1, 5, 7]) * GRID
    trades["side"] = [BUY, BUY, BUY, SELL]
    trades["sz"] = [0.5, 0.5, 1.0, 2.0]
    trades["px"] = 1001
    return Dataset(
        symbol="TEST",
        venue="hand",
        tick=0.5,
        grid_ns=GRID,
        ts_ns=T0 + np.arange(1, n + 1) * GRID,
        bid_px=bid_px,
        bid_sz=sizes,
        ask_px=ask_px,
        ask_sz=sizes.copy(),
        trades=trades,
        report={"states": n, "states_skipped": {"crossed": 0, "one_sided": 2}},
    ).validate()


def test_statistics_of_a_known_dataset():
    info = dataset_info(_dataset(), horizon=20)
    assert info["dataset"]["tick"] == 0.5 and info["dataset"]["levels"] == 3
    snaps = info["snapshots"]
    assert snaps["count"] == 200 and snaps["span_s"] == 19.9 and snaps["crossed_or_locked"] == 0
    assert snaps["start_utc"] == "2024-08-09T00:00:00.100+00:00" and snaps["grid_gaps"] == 0
    assert info["spread_ticks"]["mean"] == 1.5 and info["spread_ticks"]["one_tick_share"] == 0.5
    assert info["depth"]["bid_levels_mean"] == 2.0 and info["depth"]["full_depth_share"] == 0.0
    assert info["depth"]["bid_size_top3_mean"] == 3.0
    trades = info["trades"]
    assert trades["count"] == 4 and trades["buy_share"] == 0.75 and trades["volume"] == 4.0
    assert trades["steps_with_trades_share"] == 3 / 200  # steps ending at 1, 5 and 7
    targets = info["targets"]
    assert targets["rows"] == 180 and targets["volume_kind"] == "traded volume"
    assert targets["mid_change_up_share"] == 1.0 and targets["mid_change_abs_mean"] == 2.0  # +1 tick per 10 steps
    assert targets["spread_mean"] == 1.5 and targets["volume_zero_share"] > 0
    shares = [info["regimes"][f"{r}_share"] for r in ("calm", "normal", "volatile")]
    assert np.isclose(sum(shares), 1.0) and len(info["regimes"]["edges"]) == 2
    assert info["cleaning"] == {"states": 200, "states_skipped.crossed": 0, "states_skipped.one_sided": 2}


def test_too_short_for_a_training_split_reports_instead_of_failing():
    info = dataset_info(_dataset(25), horizon=20)
    assert "no rows" in info["regimes"]["error"]
    assert info["targets"]["rows"] == 5


def test_format_is_an_aligned_two_column_table():
    lines = format_info(dataset_info(_dataset(), horizon=20)).splitlines()
    value_column = {len(line) - len(line.split("  ")[-1].lstrip()) for line in lines}
    assert len(value_column) == 1  # every value starts in the same column
    assert "snapshots.count" in lines[6] and lines[6].endswith(" 200")
    assert any(line.startswith("regimes.edges") for line in lines)
