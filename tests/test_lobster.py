"""LOBSTER reader on a hand-written message/orderbook pair (2 levels, 8 messages)."""

from datetime import UTC, datetime

import numpy as np
import pytest

from lob.dataset import BUY, SELL
from lob.grid import SnapshotOptions
from lob.lobster import read_lobster

NAME = "AAPL_2012-06-21_34200000_57600000_{}_2.csv"
E_ASK, E_BID = 9999999999, -9999999999
MESSAGES = [  # time, type, order id, size, price, direction
    "34200.010000000,1,11,100,5850000,1",
    "34200.050000000,1,12,50,5849000,1",
    "34200.120000000,4,11,40,5850000,1",  # a buy limit order executed: the aggressor sold
    "34200.150000000,5,99,10,5851100,-1",  # a hidden sell order executed: the aggressor bought
    "34200.180000000,1,13,30,5850000,-1",  # (made-up) locked book: skipped
    "34200.250000000,3,13,30,5850000,-1",
    "34200.310000000,7,0,0,-1,-1",  # trading halt
    "34200.400000000,3,12,50,5849000,1",
]
BOOKS = [  # ask px, ask size, bid px, bid size, per level
    f"5851000,200,5850000,100,5852000,300,{E_BID},0",
    "5851000,200,5850000,100,5852000,300,5849000,50",
    "5851000,200,5850000,60,5852000,300,5849000,50",
    "5851000,200,5850000,60,5852000,300,5849000,50",
    "5850000,30,5850000,60,5851000,200,5849000,50",
    "5851000,200,5850000,60,5852000,300,5849000,50",
    "5851000,200,5850000,60,5852000,300,5849000,50",
    f"5851000,200,5850000,60,5852000,300,{E_BID},0",
]


def write_pair(tmp_path, messages=MESSAGES, books=BOOKS):
    message, book = tmp_path / NAME.format("message"), tmp_path / NAME.format("orderbook")
    message.write_text("\n".join(messages) + "\n")
    book.write_text("\n".join(books) + "\n")
    return message, book


def test_hand_written_pair(tmp_path):
    message, book = write_pair(tmp_path)
    ds = read_lobster([message, book], SnapshotOptions(levels=3))
    assert (ds.symbol, ds.venue, ds.tick) == ("AAPL", "lobster", 0.01)
    midnight_new_york = datetime(2012, 6, 21, 4, tzinfo=UTC).timestamp()  # EDT is UTC-4
    assert ((ds.ts_ns - midnight_new_york * 1e9) / 1e9 - 34200).round(3).tolist() == [0.1, 0.2, 0.3, 0.4]
    assert ds.bid_px.tolist() == [[58500, 58490, 58489], *[[58500, 58490, 58489]] * 2, [58500, 58499, 58498]]
    assert ds.bid_sz.tolist() == [[100, 50, 0], [60, 50, 0], [60, 50, 0], [60, 0, 0]]
    assert ds.ask_px.tolist() == [[58510, 58520, 58521]] * 4
    assert ds.ask_sz.tolist() == [[200, 300, 0]] * 4
    assert ds.trades["side"].tolist() == [SELL, BUY]
    assert ds.trades["px"].tolist() == [58500, 58511]
    assert ds.trades["sz"].tolist() == [40, 10]
    assert ds.report["halts"] == 1
    assert ds.report["states_skipped"] == {"one_sided": 0, "crossed": 1}
    assert [s["name"] for s in ds.sources] == [message.name, book.name]


def test_message_file_alone_finds_its_orderbook_and_options_apply(tmp_path):
    message, _ = write_pair(tmp_path)
    ds = read_lobster([message], SnapshotOptions(levels=1, tick=0.01, grid_ms=200))
    assert ds.levels == 1 and ds.tick == 0.01 and ds.n == 2
    np.testing.assert_array_equal(ds.bid_px[:, 0], [58500, 58500])
    with pytest.raises(
        ValueError, match=r"_message_2\.csv \(prices in 1/10000 USD\): price 5851100.0 is not a multiple"
    ):
        read_lobster([message], SnapshotOptions(tick=0.05))
    with pytest.raises(ValueError, match="whole number of LOBSTER price units"):
        read_lobster([message], SnapshotOptions(tick=0.00001))


@pytest.mark.parametrize(
    ("messages", "books", "match"),
    [
        ([m.rsplit(",", 1)[0] for m in MESSAGES], BOOKS, r"_message_2\.csv: 5 columns, expected at least 6"),
        (MESSAGES, [b.rsplit(",", 1)[0] for b in BOOKS], r"_orderbook_2\.csv: 7 columns, expected exactly 8"),
        (MESSAGES, BOOKS[:-1], r"_orderbook_2\.csv: 7 rows but .*_message_2\.csv has 8"),
        (
            [*MESSAGES[:2], "34200.1,9,1,1,5850000,1", *MESSAGES[3:]],
            BOOKS,
            r"_message_2\.csv:3: unknown message type 9",
        ),
        ([*MESSAGES[:2], "34200.0,1,1,1,5850000,1", *MESSAGES[3:]], BOOKS, r"_message_2\.csv:3: time goes backwards"),
        ([*MESSAGES[:2], "34200.1,1,1,x,5850000,1", *MESSAGES[3:]], BOOKS, r"_message_2\.csv: could not convert"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, messages, books, match):
    message, book = write_pair(tmp_path, messages, books)
    with pytest.raises(ValueError, match=match):
        read_lobster([message, book])


def test_bad_names_and_missing_files(tmp_path):
    message, book = write_pair(tmp_path)
    with pytest.raises(ValueError, match="not a LOBSTER file name"):
        read_lobster([tmp_path / "aapl.csv"])
    with pytest.raises(ValueError, match=r"no \*_message_N\.csv"):
        read_lobster([book])
    other = tmp_path / "MSFT_2012-06-21_34200000_57600000_orderbook_2.csv"
    other.write_text(BOOKS[0])
    with pytest.raises(ValueError, match="does not match"):
        read_lobster([message, other])
    book.unlink()
    with pytest.raises(FileNotFoundError, match="_orderbook_2.csv: no such LOBSTER file"):
        read_lobster([message])
