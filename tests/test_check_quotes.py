"""docker/check_quotes.py: quote checks on hand-made quotes, a quote log, and the real server (`cmm serve`)."""

import importlib.util
from pathlib import Path

import orjson
import pytest
from synthetic import synthetic_dataset
from tiny_bundle import write_tiny_bundle

from lob.dataset import save
from tests.serve_process import running_server

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_quotes", ROOT / "docker" / "check_quotes.py")
check_quotes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_quotes)

DS = synthetic_dataset(n=300)


def _touch(row: int) -> tuple[float, float]:
    return round(float(DS.bid_px[row, 0] * DS.tick), 2), round(float(DS.ask_px[row, 0] * DS.tick), 2)


def test_a_quote_inside_the_touch_is_fine():
    bid, ask = _touch(5)
    assert check_quotes.quote_problems({"bid_px": bid, "ask_px": ask}, DS, 5) == []
    assert check_quotes.quote_problems({"bid_px": bid - 0.05, "ask_px": None}, DS, 5) == []


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        (lambda b, a: {"bid_px": a, "ask_px": a + 0.05}, "not post-only"),
        (lambda b, a: {"bid_px": b - 0.05, "ask_px": b}, "not post-only"),
        (lambda b, a: {"bid_px": b, "ask_px": b}, "not below ask"),
        (lambda b, a: {"bid_px": None, "ask_px": None}, "neither side"),
    ],
)
def test_bad_quotes_are_named(quote, expected):
    bid, ask = _touch(7)
    problems = check_quotes.quote_problems(quote(bid, ask), DS, 7)
    assert any(expected in p for p in problems), problems


def test_check_log_counts_quotes_and_names_bad_lines(tmp_path):
    bid, ask = _touch(0)
    lines = [
        {"row": 0, "status": "ok", "response": {"bid_px": bid, "ask_px": ask}},
        {"row": 0, "status": "timeout", "response": None},
        {"row": 0, "status": "ok", "response": {"bid_px": ask, "ask_px": ask + 1}},
    ]
    log = tmp_path / "quotes.jsonl"
    log.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    count, problems = check_quotes.check_log(log, DS)
    assert count == 3
    assert len(problems) == 2 and "quotes.jsonl:2: status timeout" in problems[0] and ":3: bid" in problems[1]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    with running_server(write_tiny_bundle(tmp_path_factory.mktemp("bundle"))) as (url, _):
        yield url


def test_sequential_latency_against_the_real_server(server_url):
    stats, problems = check_quotes.sequential_latency(server_url, DS, count=200, warmup=20)
    assert problems == []
    assert stats["count"] == 200
    assert 0 < stats["p50_us"] <= stats["p90_us"] <= stats["p99_us"] <= stats["max_us"]


def test_main_prints_one_json_line_and_fails_on_a_short_log(tmp_path, capsys):
    data = tmp_path / "ds.npz"
    save(DS, data)
    log = tmp_path / "empty.jsonl"
    log.write_bytes(b"")
    assert check_quotes.main(["log", "--log", str(log), "--data", str(data), "--min-quotes", "1"]) == 1
    out, err = capsys.readouterr()
    assert orjson.loads(out) == {"quotes": 0, "problems": 1}
    assert "0 quotes logged, expected at least 1" in err
