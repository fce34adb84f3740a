"""The quote path without HTTP: units, swaps between bundles, batch vs single, and no torch in the server."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import orjson
import pytest

from loadtest.payloads import QuotePayloads
from lob.binance import read_binance
from lob.features import features, records
from server.book import to_book
from server.runtime import load_runtime
from server.schemas import Snapshot
from server.service import QuoteService, decimal_step, price_decimals
from server.settings import Settings
from server.state import SymbolStates
from tests.conftest import ROOT, require_binance
from tests.tiny_bundle import write_tiny_bundle


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    bundle = write_tiny_bundle(tmp_path_factory.mktemp("b"))
    return QuoteService(load_runtime(bundle, warmup_runs=5), Settings(bundle=bundle))


def body(symbol: str, ts: int, **extra) -> bytes:
    snap = {"symbol": symbol, "ts_ns": ts, "bids": [[61837.63, 1.0]], "asks": [[61837.64, 1.0]], "tick": 0.01}
    return orjson.dumps(snap | extra)


@pytest.mark.parametrize(
    ("step", "decimals"), [(0.01, 2), (0.1, 1), (0.5, 1), (1.0, 0), (5.0, 0), (1e-8, 8), (0.001, 3)]
)
def test_price_decimals(step, decimals):
    assert price_decimals(step) == decimals


@pytest.mark.parametrize(
    ("step", "multiple", "shown"),
    [(0.01, 6183762, "61837.62"), (0.1, 3, "0.3"), (0.5, 3, "1.5"), (5.0, 7, "35.0"), (1e-8, 123, "1.23e-6")],
)
def test_decimal_step_shows_multiples_as_their_decimals(step, multiple, shown):
    m, scale = decimal_step(step)
    assert orjson.dumps(multiple * m / scale).decode() == shown


def test_prices_come_back_in_currency_units_on_the_grid(service):
    q = orjson.loads(service.quote(body("U", 1), time.perf_counter_ns()))
    for key in ("bid_px", "ask_px"):
        assert q[key] == round(q[key], 2) and 61_000 < q[key] < 62_000
    assert q["bid_px"] < 61837.64 and q["ask_px"] > 61837.63
    assert q["latency_us"] >= 0 and q["model"] == {"name": "tiny", "version": "0.0.1"}


def test_swap_keeps_windows_when_the_layout_is_unchanged_and_drops_them_otherwise(service, tmp_path):
    service.quote(body("KEEP", 1), time.perf_counter_ns())
    original = service.runtime
    service.swap(load_runtime(write_tiny_bundle(tmp_path / "same", version="0.0.2"), warmup_runs=5))
    assert "KEEP" in service.states
    service.swap(load_runtime(write_tiny_bundle(tmp_path / "five", levels=5, version="0.0.3"), warmup_runs=5))
    assert "KEEP" not in service.states and service.states.levels == 5
    q = orjson.loads(service.quote(body("KEEP", 2), time.perf_counter_ns()))
    assert q["model"]["version"] == "0.0.3" and q["warm"] is False
    service.swap(original)


def test_the_server_never_imports_torch_or_transformers():
    code = "import sys, server.app, server.cli; sys.exit(bool({'torch', 'transformers'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0


def test_online_features_equal_the_offline_ones_on_a_real_capture():
    """Book -> record -> window -> features, request by request, equals lob.features on the canonical dataset."""
    ds = read_binance([require_binance("spot_btcusdt_20240808.gz")])
    offline = features(records(ds))
    payloads = QuotePayloads(ds, symbols=1)
    states = SymbolStates(ds.levels, max_symbols=1, max_gap_ns=10**12)
    for row in range(ds.n):
        snap = Snapshot.model_validate_json(payloads.body(row, int(ds.ts_ns[row])))
        book = to_book(snap, ds.tick, ds.levels, 50)
        window = states.push(snap.symbol, snap.ts_ns, book.tick, book.record)
        np.testing.assert_allclose(window.features(), offline[row], rtol=1e-6, atol=1e-6, err_msg=f"row {row}")
