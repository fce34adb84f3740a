"""`cmm data prepare` and `cmm data info` end to end: real files in, canonical datasets out, clean errors."""

import json
import subprocess
import sys

import pytest

from cmm.cli import main
from lob.dataset import content_hash, load
from tests.conftest import ROOT, require_binance
from tests.lob_datasets import USDM_ETH, binance
from tests.test_lobster import write_pair as write_lobster


def test_prepare_and_info_on_a_lobster_pair(tmp_path, capsys):
    message, book = write_lobster(tmp_path)
    out = tmp_path / "sets" / "aapl.npz"
    assert (
        main(["data", "prepare", "--source", "lobster", str(message), str(book), "--out", str(out), "--levels", "3"])
        == 0
    )
    assert "4 snapshots of AAPL (lobster)" in capsys.readouterr().out
    ds = load(out)
    assert ds.levels == 3 and ds.n == 4
    assert main(["data", "info", str(out)]) == 0
    table = capsys.readouterr().out
    assert "snapshots.crossed_or_locked" in table and "trades.count" in table and "regimes." in table
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["snapshots"]["count"] == 4 and info["snapshots"]["crossed_or_locked"] == 0
    assert info["cleaning"]["halts"] == 1


def test_prepare_real_binance_matches_the_library_reader(tmp_path, capsys):
    out = tmp_path / "usdm_eth.npz"
    path = require_binance(USDM_ETH[0])
    assert main(["data", "prepare", "--source", "binance", str(path), "--out", str(out)]) == 0
    assert content_hash(load(out)) == content_hash(binance(USDM_ETH))
    assert "ETHUSDT (binance-usdm)" in capsys.readouterr().out


def _fails(argv, capsys, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cmm {argv[0]}: error: ")
    for needle in needles:
        assert needle in err
    return err


def test_bad_input_is_a_clean_error_and_leaves_out_untouched(tmp_path, capsys):
    out = tmp_path / "out.npz"
    out.write_bytes(b"previous dataset")
    cut = tmp_path / "spot_ethusdt_20240808.gz"
    cut.write_bytes(require_binance("spot_ethusdt_20240808.gz").read_bytes()[:100_000])
    prepare = ["data", "prepare", "--out", str(out)]
    _fails([*prepare, "--source", "binance", str(cut)], capsys, str(cut), "truncated gzip")
    _fails([*prepare, "--source", "binance"], capsys, "--source binance needs FILES")
    _fails([*prepare, "--source", "bitstamp", str(cut)], capsys, "give no FILES")
    _fails([*prepare, "--source", "binance", str(cut), "--levels", "0"], capsys, "levels must be a positive integer")
    _fails([*prepare, "--source", "lobster", str(tmp_path / "x.csv")], capsys, "not a LOBSTER file name")
    message, _ = write_lobster(tmp_path)
    message.write_text("34200.0,1,1,1\n")
    _fails([*prepare, "--source", "lobster", str(message)], capsys, message.name, "expected at least 6")
    _fails(["data", "info", str(tmp_path / "none.npz")], capsys, "none.npz: no such dataset")
    assert out.read_bytes() == b"previous dataset"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary files left


def test_unknown_source_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "prepare", "--source", "kraken", "--out", "x.npz"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'kraken'" in capsys.readouterr().err


def test_the_installed_command_exits_non_zero_on_errors(tmp_path):
    message, book = write_lobster(tmp_path)
    out = tmp_path / "a.npz"
    run = [sys.executable, "-m", "cmm", "data"]
    ok = subprocess.run(
        [*run, "prepare", "--source", "lobster", str(message), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    book.write_text("1,2,3\n")
    bad = subprocess.run(
        [*run, "prepare", "--source", "lobster", str(message), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "orderbook_2.csv" in bad.stderr and "Traceback" not in bad.stderr
