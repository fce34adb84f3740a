"""Snapshot -> record: tick grid, ordering, crossing, padding like `lob.dataset.pad_levels`, trades, ticks."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from lob.dataset import pad_levels
from server.book import resolve_tick, to_book
from server.errors import RequestError
from server.schemas import Snapshot

L = 10


def snapshot(**changes) -> Snapshot:
    body = {
        "symbol": "BTCUSDT",
        "ts_ns": 1,
        "bids": [[61837.63, 3.8], [61837.62, 0.6], [61837.24, 0.1]],
        "asks": [[61837.64, 1.6], [61837.65, 0.01]],
    }
    return Snapshot.model_validate_json(orjson.dumps(body | changes))  # as the server parses


def refused(snap: Snapshot, tick: float = 0.01, max_levels: int = 50) -> RequestError:
    with pytest.raises(RequestError) as caught:
        to_book(snap, tick, L, max_levels)
    return caught.value


def test_record_layout_and_padding_match_the_dataset_convention():
    book = to_book(
        snapshot(trades=[[61837.64, 0.5, "buy"], [61837.63, 0.2, "sell"], [61837.64, 0.1, "buy"]]), 0.01, L, 50
    )
    bid_px, bid_sz = pad_levels(np.array([6183763, 6183762, 6183724]), np.array([3.8, 0.6, 0.1]), L, +1)
    ask_px, ask_sz = pad_levels(np.array([6183764, 6183765]), np.array([1.6, 0.01]), L, -1)
    expected = np.concatenate([bid_px, ask_px, bid_sz, ask_sz, [0.6, 0.2]])
    np.testing.assert_allclose(book.record, expected, rtol=0, atol=1e-12)
    assert (book.best_bid, book.best_ask, book.tick) == (6183763, 6183764, 0.01)


def test_levels_beyond_the_model_are_checked_then_cut():
    bids = [[round(100.0 - 0.01 * i, 2), 1.0] for i in range(30)]
    book = to_book(snapshot(bids=bids, asks=[[100.01, 1.0]]), 0.01, L, 50)
    np.testing.assert_array_equal(book.record[:L], np.arange(10_000, 10_000 - L, -1))
    bids[25][0] = 100.5
    assert refused(snapshot(bids=bids, asks=[[100.01, 1.0]])).field == "bids[25][0]"
    assert refused(snapshot(bids=bids), max_levels=20).code == "too_many_levels"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"asks": [[61837.63, 1.0]]}, "crossed_book", "asks[0][0]"),
        ({"asks": [[61837.00, 1.0]]}, "crossed_book", "asks[0][0]"),
        ({"bids": [[61837.63, 1.0], [61837.63, 1.0]]}, "unsorted_levels", "bids[1][0]"),
        ({"asks": [[61837.64, 1.0], [61837.70, 1.0], [61837.69, 1.0]]}, "unsorted_levels", "asks[2][0]"),
        ({"bids": [[61837.625, 1.0]]}, "off_tick", "bids[0][0]"),
        ({"bids": [[61837.63, 1.0], [1e-9, 1.0]]}, "off_tick", "bids[1][0]"),
        ({"asks": [[61837.64, 1.0], [1e300, 1.0]]}, "price_out_of_range", "asks[1][0]"),
    ],
)
def test_bad_books_name_the_field(changes, code, field):
    err = refused(snapshot(**changes))
    assert (err.status, err.code, err.field) == (422, code, field)


def test_prices_from_decimal_strings_are_on_the_grid():
    """61837.63 / 0.01 is 6183762.999999999 in floating point: still tick 6183763."""
    book = to_book(snapshot(bids=[[61837.63, 1.0], [0.07, 1.0]], asks=[[61837.64, 1.0]]), 0.01, L, 50)
    assert book.record[0] == 6183763 and book.record[1] == 7


def test_tick_comes_from_the_bundle_or_the_request():
    ticks = {"BTCUSDT": 0.01}
    assert resolve_tick(snapshot(), ticks) == 0.01
    assert resolve_tick(snapshot(tick=0.01), ticks) == 0.01
    assert resolve_tick(snapshot(symbol="NEW", tick=0.5), ticks) == 0.5
    with pytest.raises(RequestError) as caught:
        resolve_tick(snapshot(tick=0.1), ticks, "snapshots[3].")
    assert (caught.value.code, caught.value.field) == ("tick_mismatch", "snapshots[3].tick")
    with pytest.raises(RequestError) as caught:
        resolve_tick(snapshot(symbol="NEW"), ticks)
    assert (caught.value.code, caught.value.field) == ("unknown_tick", "tick")
