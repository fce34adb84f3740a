"""The trading-engine replay: one JSON line per quote, with the snapshot sent and the server's reply."""

import orjson
from loadtest_fixtures import TinyServer, small_dataset

from loadtest.replay import replay


def test_replay_logs_every_quote(tmp_path):
    ds = small_dataset(n=20)
    with TinyServer() as server:
        summary = replay(server.url, ds, rate=100, duration_s=0.5, log_path=tmp_path / "q.jsonl", symbols=2)
        sent = server.quotes
    lines = [orjson.loads(line) for line in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    assert summary["kinds"]["quote"]["ok"] == len(lines) == len(sent) == 50
    lines.sort(key=lambda d: d["seq"])
    assert [d["seq"] for d in lines] == list(range(50))
    assert [(d["symbol"], d["row"]) for d in lines[:4]] == [
        ("TESTUSDT-0", 0),
        ("TESTUSDT-1", 0),
        ("TESTUSDT-0", 1),
        ("TESTUSDT-1", 1),
    ]
    assert lines[-1]["row"] == 24 % ds.n  # each symbol wraps around the 20 snapshots
    by_ts = {d["ts_ns"]: d for d in lines}
    for request in sent:  # the reply logged is the one to that request
        logged = by_ts[request["ts_ns"]]
        assert logged["response"] == {"symbol": request["symbol"], "ts_ns": request["ts_ns"], "bid": 1.0, "ask": 2.0}
        assert logged["status"] == "ok" and logged["latency_us"] > 0
