"""Bitstamp order-by-order rebuild: the real sample from ob-analytics, and the cleaning rules on hand-written rows."""

import csv
import gzip
from collections import Counter

import numpy as np
import pytest

from lob.bitstamp import read_bitstamp, sample_dir
from lob.dataset import BUY, SELL
from lob.grid import SnapshotOptions
from tests.lob_datasets import bitstamp

HEADER = "id,timestamp,exchange_timestamp,price,volume,action,direction"
TRADES_HEADER = "trade_id,timestamp,exchange_timestamp,price,amount,buy_order_id,sell_order_id,side"


def test_real_sample_rebuilds_a_clean_book():
    ds = bitstamp()
    assert ds.symbol == "BTCUSD" and ds.venue == "bitstamp" and ds.tick == 1.0
    assert ds.n >= 10_000
    assert 1790 <= (ds.ts_ns[-1] - ds.ts_ns[0]) / 1e9 <= 1800  # the 30-minute capture
    assert np.all(np.diff(ds.ts_ns) == ds.grid_ns) and np.all(ds.ts_ns % ds.grid_ns == 0)
    assert int((ds.bid_px[:, 0] >= ds.ask_px[:, 0]).sum()) == 0
    assert ds.report["states_skipped"]["crossed"] == 0  # stale snapshot levels dropped, 0 ms crossings not read
    assert ds.report["rows_skipped_sentinel_price"] == 1269  # as measured in notes/data.md
    assert ds.report["unknown_ids_ignored"] == 13
    assert ds.report["stale_snapshot_levels_dropped"] >= 1
    assert ds.sources[0]["name"] == "orders.csv.gz" and len(ds.sources[0]["sha256"]) == 64


def test_real_sample_trade_sides_come_from_the_file():
    with open(sample_dir() / "trades.csv", newline="") as f:
        sides = Counter(row["side"] for row in csv.DictReader(f))
    trades = bitstamp().trades
    assert len(trades) == sum(sides.values()) == 284
    assert int((trades["side"] == BUY).sum()) == sides["buy"]
    assert int((trades["side"] == SELL).sum()) == sides["sell"]


def _write(directory, orders: list[str], trades: list[str] | None = None) -> None:
    with gzip.open(directory / "orders.csv.gz", "wt") as f:
        f.write("\n".join([HEADER, *orders]) + "\n")
    (directory / "trades.csv").write_text("\n".join([TRADES_HEADER, *(trades or [])]) + "\n")


def test_cleaning_rules_on_hand_written_rows(tmp_path):
    _write(
        tmp_path,
        [
            "s1,0,1000,78100.0,1.0,created,bid",  # synthetic REST snapshot: the rows at the first ms
            "s2,0,1000,78105.0,2.0,created,ask",
            "s3,0,1000,78104.0,0.5,created,ask",  # goes stale: crossed later, never deleted
            "s4,0,1000,0.0,9.0,created,bid",  # sentinel price: skipped
            "a1,0,1050,78104.0,0.3,created,bid",  # a live bid locks the stale ask
            "x1,0,1120,78101.0,1.0,created,bid",
            "x2,0,1120,78101.0,1.0,created,ask",  # created and deleted in one exchange ms: never read
            "x2,0,1120,78101.0,1.0,deleted,ask",
            "zz,0,1150,78099.0,1.0,deleted,bid",  # never created: ignored
            "s4,0,1150,78099.0,9.0,deleted,bid",  # its creation was skipped: ignored
            "s1,0,1260,78100.0,0.4,changed,bid",
            "a1,0,1390,78104.0,0.3,deleted,bid",
            "s5,0,1395,2000000.0,1.0,created,ask",  # absurd price: skipped
        ],
        ["1,0,1050,78104.0,0.2,a1,s3,buy", "2,0,1300,78105.0,0.1,b,s2,sell", "3,0,1301,78105.0,0.1,b,s2,sell"],
    )
    ds = read_bitstamp(SnapshotOptions(levels=3), tmp_path)
    assert (ds.ts_ns // 1_000_000).tolist() == [1000, 1100, 1200, 1300]
    assert ds.tick == 1.0
    bid = (ds.bid_px - 78000).tolist()
    ask = (ds.ask_px - 78000).tolist()
    assert bid == [[100, 99, 98], [104, 100, 99], [104, 101, 100], [104, 101, 100]]
    assert ask == [[104, 105, 106], [105, 106, 107], [105, 106, 107], [105, 106, 107]]
    assert ds.bid_sz.tolist() == [[1.0, 0, 0], [0.3, 1.0, 0], [0.3, 1.0, 1.0], [0.3, 1.0, 0.4]]
    assert ds.ask_sz[0].tolist() == [0.5, 2.0, 0]
    assert ds.report["stale_snapshot_levels_dropped"] == 1
    assert ds.report["rows_skipped_sentinel_price"] == 2
    assert ds.report["unknown_ids_ignored"] == 1
    assert ds.report["events_for_skipped_orders_ignored"] == 1
    assert ds.report["snapshot_orders"] == 3
    assert ds.report["states_skipped"] == {"one_sided": 0, "crossed": 0}
    assert ds.trades["side"].tolist() == [BUY, SELL]  # the trade at 1301 ms is after the last snapshot
    assert ds.report["trades_outside_span"] == 1


def test_a_crossed_live_book_at_a_boundary_is_not_a_snapshot(tmp_path):
    _write(
        tmp_path,
        [
            "s1,0,1000,78100.0,1.0,created,bid",
            "s2,0,1000,78105.0,2.0,created,ask",
            "a1,0,1010,78103.0,1.0,created,ask",
            "b1,0,1020,78104.0,1.0,created,bid",  # live bid over live ask across a ms boundary
            "b1,0,1150,78104.0,1.0,deleted,bid",
            "a1,0,1210,78103.0,1.0,deleted,ask",
        ],
    )
    ds = read_bitstamp(SnapshotOptions(levels=2), tmp_path)
    assert ds.report["states_skipped"]["crossed"] == 1
    assert (ds.ts_ns // 1_000_000).tolist() == [1000, 1100, 1200]
    assert (ds.ask_px[:, 0] - 78000).tolist() == [105, 103, 103]  # at 1100 the clean state of 1010 holds
    assert (ds.bid_px[:, 0] - 78000).tolist() == [100, 100, 100]


def test_bad_files_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="orders.csv.gz"):
        read_bitstamp(directory=tmp_path)
    _write(tmp_path, ["s1,0,1000,78100.0,1.0,created,bid"] * 50)
    data = (tmp_path / "orders.csv.gz").read_bytes()
    (tmp_path / "orders.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"orders\.csv\.gz: unreadable or truncated"):
        read_bitstamp(directory=tmp_path)
    with gzip.open(tmp_path / "orders.csv.gz", "wt") as f:
        f.write("id,timestamp,exchange_timestamp,volume,action,direction\n1,0,1000,1.0,created,bid\n")
    with pytest.raises(ValueError, match="missing column.*price"):
        read_bitstamp(directory=tmp_path)
    _write(tmp_path, ["s1,0,1000,78100.0,1.0,created,bid", "s2,0,1000,78105.0,2.0,created,sideways"])
    with pytest.raises(ValueError, match=r"orders\.csv\.gz:3: direction 'sideways'"):
        read_bitstamp(directory=tmp_path)
    _write(tmp_path, ["s1,0,1000,78100.0,1.0,created,bid", "s2,0,999,78105.0,2.0,created,ask"])
    with pytest.raises(ValueError, match=r"orders\.csv\.gz: exchange_timestamp goes backwards at line 3"):
        read_bitstamp(directory=tmp_path)
