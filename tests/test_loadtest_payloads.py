"""Quote bodies replay the dataset per symbol in time order, in currency, with the step's trades."""

import numpy as np
import orjson
import pytest
from loadtest_fixtures import small_dataset

from loadtest.payloads import QuotePayloads
from lob.dataset import BUY


@pytest.fixture(scope="module")
def ds():
    return small_dataset(n=50)


def test_symbols_rotate_and_each_replays_the_dataset_in_order(ds):
    p = QuotePayloads(ds, symbols=3)
    docs = [orjson.loads(p.body(k, 1_000 + k)) for k in range(9)]
    assert [d["symbol"] for d in docs] == ["TESTUSDT-0", "TESTUSDT-1", "TESTUSDT-2"] * 3
    assert [p.locate(k) for k in (0, 1, 3, 4, 149, 150)] == [(0, 0), (1, 0), (0, 1), (1, 1), (2, 49), (0, 0)]
    assert [d["ts_ns"] for d in docs] == list(range(1_000, 1_009))
    assert docs[0]["bids"] == docs[1]["bids"] and docs[0]["bids"] != docs[3]["bids"]


def test_book_is_in_currency_without_absent_levels(ds):
    p = QuotePayloads(ds, symbols=1, inventory=0.25)
    row = 7  # small_dataset empties the last bid level on every 7th row
    doc = orjson.loads(p.body(row, 5))
    assert doc["inventory"] == 0.25 and doc["tick"] == ds.tick
    assert len(doc["bids"]) == ds.levels - 1 and len(doc["asks"]) == ds.levels
    bids = np.array(doc["bids"])
    assert np.array_equal(np.rint(bids[:, 0] / ds.tick).astype(np.int64), ds.bid_px[row, : ds.levels - 1])
    assert np.array_equal(bids[:, 1], ds.bid_sz[row, : ds.levels - 1])
    asks = np.array(doc["asks"])
    assert np.allclose(asks[:, 0], ds.ask_px[row] * ds.tick, rtol=0, atol=1e-9)
    assert all(len(repr(px).split(".")[-1]) <= 4 for px in asks[:, 0])  # no 6000.0300000001 artefacts


def test_trades_are_those_of_the_step_ending_at_the_snapshot(ds):
    p = QuotePayloads(ds, symbols=1)
    total = 0.0
    for row in range(ds.n):
        trades = orjson.loads(p.body(row, 0))["trades"]
        lo = ds.ts_ns[row - 1] if row else ds.ts_ns[0] - ds.grid_ns
        inside = (ds.trades["ts_ns"] > lo) & (ds.trades["ts_ns"] <= ds.ts_ns[row])
        assert [t[1] for t in trades] == ds.trades["sz"][inside].tolist()
        assert [t[2] for t in trades] == ["buy" if s == BUY else "sell" for s in ds.trades["side"][inside]]
        total += sum(t[1] for t in trades)
    in_range = ds.trades["ts_ns"] > ds.ts_ns[0] - ds.grid_ns
    assert total == pytest.approx(ds.trades["sz"][in_range].sum())


def test_no_trades_key_when_the_dataset_has_none(ds):
    from dataclasses import replace

    p = QuotePayloads(replace(ds, has_trades=False), symbols=1)
    assert "trades" not in orjson.loads(p.body(0, 0))


def test_bad_arguments(ds):
    with pytest.raises(ValueError, match="symbols"):
        QuotePayloads(ds, symbols=0)
