"""`cmm loadtest` end to end against the real quote server (`cmm serve` on a tiny bundle), and its errors."""

import os

import orjson
import pytest
from loadtest_fixtures import small_dataset
from tiny_bundle import write_tiny_bundle

from cmm.cli import main
from lob.dataset import save
from tests.serve_process import free_port, running_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("loadtest") / "small.npz"
    save(small_dataset(n=200), path)
    return path


@pytest.fixture(scope="module")
def quote_server(tmp_path_factory):
    """`cmm serve` in a subprocess on a free loopback port, ready (or the test fails) within 60 s."""
    with running_server(write_tiny_bundle(tmp_path_factory.mktemp("bundle"))) as (url, _):
        yield url


def test_short_run_against_the_real_server(quote_server, data_file, tmp_path, capsys):
    out, log = tmp_path / "run.json", tmp_path / "quotes.jsonl"
    argv = ["loadtest", "--url", quote_server, "--data", str(data_file), "--rate", "100", "--duration", "2"]
    argv += ["--symbols", "3", "--floor", "--warmup", "0.5", "--json", str(out), "--plot", str(tmp_path / "p.png")]
    assert main([*argv, "--log", str(log), "--quiet"]) == 0
    summary = orjson.loads(out.read_bytes())
    for name in ("quote", "healthz"):
        k = summary["kinds"][name]
        assert k["sent"] == 200 and k["sent"] == k["ok"] + k["errors"]
        lat = k["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    assert summary["kinds"]["quote"]["ok"] > 0
    quotes = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    ok = [q for q in quotes if q["status"] == "ok"]
    assert len(quotes) == summary["kinds"]["quote"]["sent"] - summary["kinds"]["quote"]["errors_by_kind"].get(
        "unfinished", 0
    )
    assert ok and all(
        q["response"]["symbol"] == q["symbol"] and q["response"]["bid_px"] < q["response"]["ask_px"] for q in ok
    )
    assert (tmp_path / "p.png").stat().st_size > 0
    table = capsys.readouterr().out
    assert table.startswith("request") and "quote" in table and "healthz" in table


def test_short_ramp_against_the_real_server(quote_server, data_file, tmp_path, capsys):
    argv = ["loadtest", "--url", quote_server, "--data", str(data_file), "--rate", "50", "--duration", "0.5"]
    argv += [
        "--ramp",
        "--ramp-step",
        "50",
        "--ramp-max",
        "100",
        "--slo-ms",
        "10000",
        "--warmup",
        "0",
        "--timeout",
        "5",
        "--quiet",
    ]
    assert main([*argv, "--json", str(tmp_path / "ramp.json")]) == 0
    ramp = orjson.loads((tmp_path / "ramp.json").read_bytes())
    assert [s["rate"] for s in ramp["steps"]] == [50, 100] and ramp["highest_rate_held"] == 100
    assert "highest rate with p99 <= 10000 ms and no errors: 100 req/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--url", "http://192.0.2.1:8000"], "not a loopback address"),
        (["--rate", "0"], "rate must be > 0"),
        (["--ramp", "--log", "x.jsonl"], "cannot be combined with --ramp"),
        (["--connections", "0"], "connections must be in"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(data_file, extra, message, capsys):
    argv = ["loadtest", "--data", str(data_file), "--rate", "10", "--duration", "1", *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_data_and_unreachable_server_exit_2(data_file, tmp_path, capsys):
    assert main(["loadtest", "--data", str(tmp_path / "none.npz"), "--rate", "10"]) == 2
    assert "no such dataset" in capsys.readouterr().err
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["loadtest", "--url", url, "--data", str(data_file), "--rate", "10", "--timeout", "0.5"]) == 2
    assert "cannot reach the server" in capsys.readouterr().err
