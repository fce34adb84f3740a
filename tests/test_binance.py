"""Binance captures: the six shared real files, the update-id rules, chaining and bad input on written files."""

import gzip
import json

import numpy as np
import pytest

from lob.binance import Replay, parse_capture, read_binance
from lob.dataset import BUY, SELL
from lob.grid import SnapshotOptions
from lob.ticks import tick_map
from tests.conftest import require_binance
from tests.lob_datasets import SPOT_BTC, SPOT_ETH, USDM_BTC, USDM_ETH, binance

RECV = 1723161253937085768
LEVELS2 = SnapshotOptions(levels=2)


def _snapshot(last_id, bids, asks):
    return {"lastUpdateId": last_id, "bids": bids, "asks": asks}


def _depth(first, last, ms, bids=(), asks=(), pu=None, symbol="BTCUSDT"):
    data = {"e": "depthUpdate", "E": ms, "s": symbol, "U": first, "u": last, "b": list(bids), "a": list(asks)}
    if pu is not None:
        data["pu"] = pu
    return {"stream": f"{symbol.lower()}@depth@100ms", "data": data}


def _trade(ms, px, qty, buyer_is_maker, symbol="BTCUSDT"):
    data = {"e": "trade", "E": ms, "s": symbol, "t": 1, "p": px, "q": qty, "T": ms, "m": buyer_is_maker}
    return {"stream": f"{symbol.lower()}@trade", "data": data}


def _write(path, messages):
    with gzip.open(path, "wt") as f:
        for i, msg in enumerate(messages):
            f.write(f"{RECV + i} {msg if isinstance(msg, str) else json.dumps(msg)}\n")
    return path


SPOT = [
    _depth(1, 5, 1000, bids=[["99.98", "1"]]),  # u <= lastUpdateId: dropped
    _depth(6, 9, 1100, bids=[["100.01", "0.5"]], asks=[["100.02", "0"]]),  # straddles lastUpdateId + 1 = 8
    _snapshot(7, [["100.00", "1"], ["99.99", "2"]], [["100.02", "1"], ["100.03", "3"]]),
    '{"stream":"btcusdt@bookTicker","data":{"u":9,"s":"BTCUSDT","b":"100.01","B":"0.5","a":"100.03","A":"3"}}',
    _trade(1150, "100.03", "0.2", False),
    _trade(1160, "100.01", "0.1", True),
    _depth(10, 12, 1250, asks=[["100.02", "4"]]),
    _depth(13, 13, 1301, bids=[["100.01", "0"]]),
]


def test_spot_rules_on_a_written_capture(tmp_path):
    ds = read_binance([_write(tmp_path / "a.gz", SPOT)], LEVELS2)
    assert ds.symbol == "BTCUSDT" and ds.venue == "binance-spot" and ds.tick == 0.01
    assert (ds.ts_ns // 1_000_000).tolist() == [1100, 1200, 1300]
    assert ds.bid_px.tolist() == [[10001, 10000]] * 2 + [[10001, 10000]]
    assert ds.ask_px.tolist() == [[10003, 10004]] * 2 + [[10002, 10003]]
    assert ds.ask_sz.tolist() == [[3.0, 0.0]] * 2 + [[4.0, 3.0]]
    assert ds.trades["side"].tolist() == [BUY, SELL]  # "m": true -> the buyer was maker, the aggressor sold
    assert ds.trades["px"].tolist() == [10003, 10001]
    assert ds.report["depth_events_dropped_before_snapshot"] == 1
    assert ds.report["depth_events_applied"] == 3
    assert ds.report["lines_skipped"]["other_streams"] == 1


def test_a_continuation_file_chains_after_its_predecessor(tmp_path):
    whole = read_binance([_write(tmp_path / "whole.gz", SPOT)], LEVELS2)
    first, second = _write(tmp_path / "first.gz", SPOT[:6]), _write(tmp_path / "second.gz", SPOT[6:])
    chained = read_binance([first, second], LEVELS2)
    for name in ("ts_ns", "bid_px", "bid_sz", "ask_px", "ask_sz", "trades"):
        np.testing.assert_array_equal(getattr(chained, name), getattr(whole, name))
    assert [s["name"] for s in chained.sources] == ["first.gz", "second.gz"]
    with pytest.raises(
        ValueError, match=r"second\.gz: no REST depth snapshot .* must come after the file it continues"
    ):
        read_binance([second, first], LEVELS2)
    other = _write(tmp_path / "eth.gz", [_depth(10, 12, 1250, asks=[["100.02", "4"]], symbol="ETHUSDT")])
    with pytest.raises(ValueError, match=r"eth\.gz:1: symbol ETHUSDT differs from BTCUSDT"):
        read_binance([first, other], LEVELS2)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_depth(11, 12, 1250), r"a\.gz:7: sequence gap: depth event U=11 u=12, expected U == previous u \+ 1 = 10"),
        (_depth(8, 9, 1250), r"a\.gz:7: out-of-order or repeated update ids: depth event U=8 u=9"),
    ],
)
def test_spot_sequence_gaps_name_file_line_and_ids(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        read_binance([_write(tmp_path / "a.gz", [*SPOT[:6], bad, *SPOT[7:]])], LEVELS2)


def test_first_event_must_cover_the_snapshot(tmp_path):
    messages = [SPOT[2], _depth(9, 10, 1100, bids=[["100.01", "0.5"]])]
    with pytest.raises(ValueError, match=r"a\.gz:2: sequence gap after the snapshot at .*a\.gz:1: lastUpdateId=7"):
        read_binance([_write(tmp_path / "a.gz", messages)], LEVELS2)


def test_coinm_pu_rule(tmp_path):
    sym = "BTCUSD_PERP"
    messages = [
        _snapshot(100, [["60000.0", "5"], ["59999.9", "1"]], [["60000.1", "7"], ["60000.2", "2"]]),
        _depth(90, 99, 1000, bids=[["59999.8", "3"]], pu=89, symbol=sym),  # u < lastUpdateId: dropped
        _depth(95, 105, 1050, bids=[["60000.0", "6"]], pu=99, symbol=sym),  # U <= 100 <= u: first applied
        _depth(110, 120, 1120, asks=[["60000.1", "0"]], pu=105, symbol=sym),  # pu == previous u
        _trade(1130, "60000.2", "3", False, symbol=sym),
        _depth(121, 130, 1210, bids=[["59999.9", "0"]], pu=120, symbol=sym),
    ]
    ds = read_binance([_write(tmp_path / "c.gz", messages)], LEVELS2)
    assert ds.venue == "binance-coinm" and ds.symbol == sym and ds.tick == 0.1
    assert (ds.ts_ns // 1_000_000).tolist() == [1100, 1200]
    assert ds.bid_sz[:, 0].tolist() == [6.0, 6.0] and ds.ask_px[:, 0].tolist() == [600001, 600002]
    assert ds.trades["sz"].tolist() == [3.0]  # contracts, as in the file
    messages[5] = _depth(121, 130, 1210, pu=119, symbol=sym)
    with pytest.raises(ValueError, match=r"c\.gz:6: sequence gap: depth event U=121 u=130 pu=119, expected pu == "):
        read_binance([_write(tmp_path / "c.gz", messages)], LEVELS2)


def test_bad_lines_name_file_and_line(tmp_path):
    cases = [
        ([*SPOT[:3], '{"stream": "btcusdt@trade", "data": {'], r"a\.gz:4: invalid JSON"),
        ([*SPOT[:3], {"stream": "x@depth", "data": {"e": "depthUpdate", "s": "BTCUSDT", "E": 1}}], r"a\.gz:4: .*'U'"),
        ([*SPOT[:2], _snapshot(7, [["100.00", "lots"]], [])], r"a\.gz:3: malformed message \(ValueError"),
        ([*SPOT, SPOT[2]], r"a\.gz:9: a second REST snapshot in one chain"),
    ]
    for messages, match in cases:
        with pytest.raises(ValueError, match=match):
            read_binance([_write(tmp_path / "a.gz", messages)], LEVELS2)
    (tmp_path / "b.gz").write_text("1 {}\n")
    with pytest.raises(ValueError, match=r"b\.gz: not a readable gzip capture"):
        read_binance([tmp_path / "b.gz"])
    with pytest.raises(FileNotFoundError, match="no such capture"):
        read_binance([tmp_path / "missing.gz"])
    with pytest.raises(ValueError, match=r"not a multiple of the tick 0\.02"):
        read_binance([_write(tmp_path / "a.gz", SPOT)], SnapshotOptions(tick=0.02))


def test_truncated_real_capture_is_named(tmp_path):
    data = require_binance("spot_ethusdt_20240808.gz").read_bytes()
    cut = tmp_path / "spot_ethusdt_20240808.gz"
    cut.write_bytes(data[:150_000])
    with pytest.raises(
        ValueError, match=r"spot_ethusdt_20240808\.gz: truncated gzip file \(stream ends after line \d+"
    ):
        read_binance([cut])


def test_real_spot_btc_pair():
    ds = binance(SPOT_BTC)
    assert ds.symbol == "BTCUSDT" and ds.venue == "binance-spot" and ds.tick == 0.01
    assert ds.n >= 6000
    assert np.all(np.diff(ds.ts_ns) == ds.grid_ns)
    assert int((ds.bid_px[:, 0] >= ds.ask_px[:, 0]).sum()) == 0
    assert ds.report["files"] == 2 and ds.report["states_skipped"] == {"one_sided": 0, "crossed": 0}
    assert len(ds.trades) > 10_000 and set(np.unique(ds.trades["side"])) == {BUY, SELL}


@pytest.mark.parametrize(
    ("names", "venue", "tick"),
    [(SPOT_ETH, "binance-spot", 0.01), (USDM_BTC, "binance-usdm", 0.1), (USDM_ETH, "binance-usdm", 0.01)],
)
def test_real_captures_prepare_clean(names, venue, tick):
    ds = binance(names)
    assert (ds.venue, ds.tick) == (venue, tick)  # the README's tick sizes, inferred from the prices
    assert ds.n >= 3000 and int((ds.bid_px[:, 0] >= ds.ask_px[:, 0]).sum()) == 0
    assert ds.report["states_skipped"]["crossed"] == 0 and ds.report["depth_event_times_backwards"] == 0


def test_real_book_top_matches_the_book_ticker_stream():
    """Reference check: at the update ids where the exchange also sent a bookTicker, the rebuilt best
    bid and ask equal the exchange's."""
    path = require_binance(SPOT_ETH[0])
    capture = parse_capture([path])
    replay = Replay(1, 1, tick_map(capture.prices, 0.01))  # a 1 ns grid keeps every state
    replay.run(capture.events)
    _, bid_px, _, ask_px, _ = replay.states.arrays()
    state_at = {u: i for i, u in enumerate(replay.states.tags)}
    compared = 0
    with gzip.open(path, "rt") as f:
        for line in f:
            if "@bookTicker" in line[:80]:
                t = json.loads(line.split(" ", 1)[1])["data"]
                i = state_at.get(t["u"])
                if i is not None:
                    assert (bid_px[i, 0], ask_px[i, 0]) == (round(float(t["b"]) * 100), round(float(t["a"]) * 100))
                    compared += 1
    assert compared > 300


def test_a_gap_in_a_real_capture_is_detected(tmp_path):
    lines = gzip.decompress(require_binance(SPOT_ETH[0]).read_bytes()).decode().splitlines(keepends=True)
    depth = [i for i, line in enumerate(lines) if "@depth" in line[:60]]
    gone = depth[200]
    first_id = json.loads(lines[gone].split(" ", 1)[1])["data"]["U"]
    broken = tmp_path / "spot_ethusdt_20240808.gz"
    broken.write_bytes(gzip.compress("".join(lines[:gone] + lines[gone + 1 :]).encode(), compresslevel=1))
    expected = rf"spot_ethusdt_20240808\.gz:{depth[201]}: sequence gap: .* expected U == previous u \+ 1 = {first_id}"
    with pytest.raises(ValueError, match=expected):
        read_binance([broken])
