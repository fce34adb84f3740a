"""The price-level book and the record of its clean top-L states, against a sorted-dict reference."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lob.book import ASK, BID, BookStates, SideBook
from lob.grid import sample


@given(st.lists(st.tuples(st.sampled_from([BID, ASK]), st.integers(90, 110), st.sampled_from([0.0, 0.5, 2.0]))))
def test_side_books_match_a_sorted_dict(ops):
    books = {BID: SideBook(BID), ASK: SideBook(ASK)}
    ref = {BID: {}, ASK: {}}
    for side, px, qty in ops:
        books[side].set(px, qty)
        if qty > 0:
            ref[side][px] = qty
        else:
            ref[side].pop(px, None)
    for side in (BID, ASK):
        expected = sorted(ref[side].items(), reverse=side == BID)[:5]
        assert books[side].top(5) == ([p for p, _ in expected], [q for _, q in expected])
        assert len(books[side]) == len(ref[side])
        assert books[side].best() == (expected[0][0] if expected else None)


def test_replace_drops_empty_levels():
    book = SideBook(ASK)
    book.set(50, 1.0)
    book.replace({101: 1.0, 100: 2.0, 102: 0.0})
    assert book.top(10) == ([100, 101], [2.0, 1.0])


def test_states_skip_one_sided_crossed_and_locked_books_and_pad_thin_ones():
    bids, asks = SideBook(BID), SideBook(ASK)
    states = BookStates(levels=3, grid_ns=1)
    bids.set(100, 1.0)
    assert not states.record(1, bids, asks)  # no ask
    asks.set(100, 2.0)
    assert not states.record(2, bids, asks)  # locked
    asks.set(100, 0.0)
    asks.set(99, 2.0)
    assert not states.record(3, bids, asks)  # crossed
    asks.set(99, 0.0)
    asks.set(102, 2.0)
    asks.set(103, 3.0)
    bids.set(98, 0.5)
    assert states.record(4, bids, asks)
    assert states.skipped == {"one_sided": 1, "crossed": 2}
    ts, bid_px, bid_sz, ask_px, ask_sz = states.arrays()
    assert ts.tolist() == [4]
    assert bid_px.tolist() == [[100, 98, 97]] and bid_sz.tolist() == [[1.0, 0.5, 0.0]]
    assert ask_px.tolist() == [[102, 103, 104]] and ask_sz.tolist() == [[2.0, 3.0, 0.0]]
    assert bid_px.dtype == np.int64 and ask_sz.dtype == np.float64


def test_no_states_give_empty_arrays_of_the_right_shape():
    ts, bid_px, bid_sz, ask_px, ask_sz = BookStates(levels=4, grid_ns=1).arrays()
    assert ts.shape == (0,) and bid_px.shape == (0, 4) and ask_sz.shape == (0, 4)


def test_states_that_sampling_cannot_pick_are_replaced():
    bids, asks = SideBook(BID), SideBook(ASK)
    asks.set(110, 1.0)
    kept = BookStates(levels=1, grid_ns=100)
    every = BookStates(levels=1, grid_ns=1)
    for t, px in [(105, 100), (150, 101), (199, 102), (200, 103), (201, 104), (350, 105), (420, 106)]:
        bids.set(px, 1.0)
        kept.record(t, bids, asks, tag=px)
        every.record(t, bids, asks, tag=px)
    assert kept.clean == every.clean == 7
    assert kept.tags == [103, 104, 105, 106]  # 105, 150 and 199 ms are superseded before the step end at 200
    ts, bid_px, *_ = kept.arrays()
    assert ts.tolist() == [200, 201, 350, 420] and bid_px[:, 0].tolist() == [103, 104, 105, 106]
    all_ts, all_bid, *_ = every.arrays()
    (ends, idx), (all_ends, all_idx) = sample(ts, 100), sample(all_ts, 100)
    assert ends.tolist() == all_ends.tolist() == [200, 300, 400]
    assert bid_px[idx, 0].tolist() == all_bid[all_idx, 0].tolist() == [103, 104, 105]  # sampling either: same books
