"""Every route of the quote server, in process, on a tiny real ONNX bundle; every bad-input class."""

from __future__ import annotations

import itertools
import math

import orjson
import pytest
from fastapi.testclient import TestClient

from lob.features import WINDOW
from server.app import create_app
from server.quote_routes import HANDLERS
from server.settings import Settings
from tests.tiny_bundle import write_tiny_bundle

TOKEN = "test-token"
MODEL = {"name": "tiny", "version": "0.0.1"}
_names = itertools.count()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return write_tiny_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def client(bundle):
    settings = Settings(bundle=bundle, admin_token=TOKEN, max_body_bytes=64 * 1024, max_gap_ms=1000)
    with TestClient(create_app(settings)) as c:
        yield c


def fresh() -> str:
    return f"S{next(_names)}"


def snap(symbol: str, ts: int = 1_000_000_000, bid: float = 100.00, tick: float | None = 0.01, **extra) -> dict:
    body = {
        "symbol": symbol,
        "ts_ns": ts,
        "bids": [[round(bid - 0.01 * i, 2), 1.0 + i] for i in range(5)],
        "asks": [[round(bid + 0.01 * (i + 1), 2), 2.0 + i] for i in range(5)],
    }
    if tick is not None:
        body["tick"] = tick
    return body | extra


def state_of(client: TestClient) -> dict:
    windows = client.app.state.ctx.service.states._windows
    return {s: (w.last_ts, w.tick, list(w.mids), list(w.buys), list(w.sells), w.row) for s, w in windows.items()}


def post(client: TestClient, path: str, body, content_type: str = "application/json", **headers):
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(path, content=content, headers={"content-type": content_type, **headers})


def on_grid(px: float, tick: float) -> bool:
    return abs(px / tick - round(px / tick)) < 1e-6


def test_quote_fields_units_and_post_only(client):
    body = snap("BTCUSDT", tick=None, inventory=0.2, trades=[[100.01, 0.5, "buy"], [100.0, 0.25, "sell"]])
    r = post(client, "/v1/quote", body)
    assert r.status_code == 200, r.text
    q = r.json()
    assert set(q) == {
        "symbol", "ts_ns", "bid_px", "bid_sz", "ask_px", "ask_sz", "fair_px", "spread_pred", "volume_pred",
        "warm", "model", "latency_us",
    }  # fmt: skip
    assert q["model"] == MODEL and q["symbol"] == "BTCUSDT" and q["ts_ns"] == body["ts_ns"]
    assert q["bid_px"] < q["ask_px"] and q["bid_px"] < 100.01 and q["ask_px"] > 100.00
    assert on_grid(q["bid_px"], 0.01) and on_grid(q["ask_px"], 0.01)
    assert q["bid_sz"] > 0 and q["ask_sz"] > 0 and q["volume_pred"] >= 0 and q["spread_pred"] > 0
    assert q["warm"] is False and isinstance(q["latency_us"], int) and q["latency_us"] > 0


def test_window_warms_after_window_snapshots_and_a_gap_resets_it(client):
    symbol = fresh()
    warm = [post(client, "/v1/quote", snap(symbol, ts=(k + 1) * 100_000_000)).json()["warm"] for k in range(WINDOW)]
    assert warm == [False] * (WINDOW - 1) + [True]
    late = post(client, "/v1/quote", snap(symbol, ts=WINDOW * 100_000_000 + 2_000_000_000))  # 2 s gap > 1 s
    assert late.json()["warm"] is False


def test_inventory_at_limit_leaves_a_side_unquoted(client):
    q = post(client, "/v1/quote", snap(fresh(), inventory=1.0)).json()
    assert q["bid_px"] is None and q["bid_sz"] == 0 and q["ask_px"] is not None and q["ask_sz"] > 0


def test_overrides_change_the_quote_within_bounds(client):
    wide = post(client, "/v1/quote", snap(fresh(), params={"min_half_spread": 20.0})).json()
    assert wide["ask_px"] - wide["bid_px"] >= 0.4 - 1e-9
    r = post(client, "/v1/quote", snap(fresh(), params={"max_inventory": 50.0}))
    assert r.status_code == 422 and r.json()["error"]["field"] == "params.max_inventory"
    r = post(client, "/v1/quote", snap(fresh(), params={"spread_mult": 1e6}))
    assert r.status_code == 422 and r.json()["error"]["field"] == "params.spread_mult"
    r = post(client, "/v1/quote", snap(fresh(), params={"max_size": 0.0001}))  # below the lot
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_params"
    batch = post(client, "/v1/quotes", {"snapshots": [snap(fresh())], "params": {"min_half_spread": 20.0}}).json()
    assert batch["quotes"][0]["ask_px"] - batch["quotes"][0]["bid_px"] >= 0.4 - 1e-9


def test_more_levels_than_the_model_reads_are_used_up_to_its_levels(client):
    body = snap(fresh())
    body["bids"] = [[round(100.0 - 0.01 * i, 2), 1.0] for i in range(30)]
    r = post(client, "/v1/quote", body)
    assert r.status_code == 200, r.text


def test_batch_quotes_many_symbols_in_one_call(client):
    symbols = [fresh() for _ in range(5)]
    r = post(client, "/v1/quotes", {"snapshots": [snap(s, bid=100.0 + i) for i, s in enumerate(symbols)]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == MODEL and out["latency_us"] > 0
    assert [q["symbol"] for q in out["quotes"]] == symbols
    for i, q in enumerate(out["quotes"]):
        assert q["bid_px"] < 100.0 + i + 0.01 and q["ask_px"] > 100.0 + i


def test_batch_and_single_give_the_same_quote(client):
    a, b = fresh(), fresh()
    single = post(client, "/v1/quote", snap(a)).json()
    batch = post(client, "/v1/quotes", {"snapshots": [snap(b)]}).json()["quotes"][0]
    for key in ("bid_px", "ask_px", "bid_sz", "ask_sz", "warm"):
        assert single[key] == batch[key]
    assert math.isclose(single["fair_px"], batch["fair_px"], rel_tol=1e-9)


def test_a_bad_snapshot_in_a_batch_refuses_the_whole_batch(client):
    good, bad = fresh(), fresh()
    before = state_of(client)
    crossed = snap(bad)
    crossed["asks"][0][0] = 99.99
    r = post(client, "/v1/quotes", {"snapshots": [snap(good), crossed]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "snapshots[1].asks[0][0]"
    assert state_of(client) == before
    r = post(client, "/v1/quotes", {"snapshots": [snap(good), snap(good, ts=2_000_000_000)]})
    assert r.json()["error"]["code"] == "duplicate_symbol"
    assert state_of(client) == before


def test_stale_snapshot_is_409_and_changes_nothing(client):
    symbol = fresh()
    assert post(client, "/v1/quote", snap(symbol, ts=5_000)).status_code == 200
    before = state_of(client)
    for ts in (5_000, 4_999):
        r = post(client, "/v1/quote", snap(symbol, ts=ts, bid=101.0))
        assert r.status_code == 409 and r.json()["error"] == {
            "code": "stale_snapshot",
            "field": "ts_ns",
            "message": f"{symbol}: ts_ns {ts} is not after the last snapshot's 5000",
        }
    r = post(client, "/v1/quotes", {"snapshots": [snap(fresh()), snap(symbol, ts=4_000)]})
    assert r.status_code == 409 and r.json()["error"]["field"] == "snapshots[1].ts_ns"
    assert state_of(client) == before


def _mutate(path: list, value):
    def apply(body: dict) -> dict:
        target = body
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return body

    return apply


BAD_INPUTS = [
    # (case, change to a good snapshot, status, code, field)
    ("crossed", _mutate(["asks", 0, 0], 99.98), 422, "crossed_book", "asks[0][0]"),
    ("locked", _mutate(["asks", 0, 0], 100.00), 422, "crossed_book", "asks[0][0]"),
    ("unsorted bids", _mutate(["bids", 2, 0], 100.5), 422, "unsorted_levels", "bids[2][0]"),
    ("unsorted asks", _mutate(["asks", 3, 0], 100.02), 422, "unsorted_levels", "asks[3][0]"),
    ("duplicate level", _mutate(["asks", 1, 0], 100.01), 422, "unsorted_levels", "asks[1][0]"),
    ("zero size", _mutate(["bids", 1, 1], 0.0), 422, "greater_than", "bids[1][1]"),
    ("negative size", _mutate(["asks", 0, 1], -1.0), 422, "greater_than", "asks[0][1]"),
    ("negative price", _mutate(["bids", 4, 0], -99.96), 422, "greater_than", "bids[4][0]"),
    ("off tick", _mutate(["bids", 0, 0], 100.005), 422, "off_tick", "bids[0][0]"),
    ("price as string", _mutate(["bids", 0, 0], "100.00"), 422, "float_type", "bids[0][0]"),
    ("ts as float", _mutate(["ts_ns"], 1.5e9), 422, "int_type", "ts_ns"),
    ("ts as bool", _mutate(["ts_ns"], True), 422, "int_type", "ts_ns"),
    ("negative ts", _mutate(["ts_ns"], -1), 422, "greater_than_equal", "ts_ns"),
    ("inventory as string", _mutate(["inventory"], "0"), 422, "float_type", "inventory"),
    ("level of three", _mutate(["bids", 0], [100.0, 1.0, 2.0]), 422, "too_long", "bids[0]"),
    ("level as object", _mutate(["asks", 0], {"px": 100.01}), 422, "tuple_type", "asks[0]"),
    ("missing asks", _mutate(["asks"], KeyError), 422, "missing", "asks"),
    ("missing symbol", _mutate(["symbol"], KeyError), 422, "missing", "symbol"),
    ("empty bids", _mutate(["bids"], []), 422, "too_short", "bids"),
    (
        "too many levels",
        _mutate(["asks"], [[round(100.01 + 0.01 * i, 2), 1.0] for i in range(51)]),
        422,
        "too_long",
        "asks",
    ),  # fmt: skip
    ("bad symbol", _mutate(["symbol"], "BTC USDT"), 422, "string_pattern_mismatch", "symbol"),
    ("empty symbol", _mutate(["symbol"], ""), 422, "string_too_short", "symbol"),
    ("long symbol", _mutate(["symbol"], "X" * 33), 422, "string_too_long", "symbol"),
    ("symbol as number", _mutate(["symbol"], 7), 422, "string_type", "symbol"),
    ("unknown field", _mutate(["venue"], "x"), 422, "extra_forbidden", "venue"),
    ("unknown tick", _mutate(["tick"], KeyError), 422, "unknown_tick", "tick"),
    ("zero tick", _mutate(["tick"], 0.0), 422, "greater_than", "tick"),
    ("bad trade side", _mutate(["trades"], [[100.0, 1.0, "up"]]), 422, "literal_error", "trades[0][2]"),
    ("unknown override", _mutate(["params"], {"lot": 1.0}), 422, "extra_forbidden", "params.lot"),
    ("body not an object", lambda body: [body], 422, "model_type", None),
]


@pytest.mark.parametrize(("case", "change", "status", "code", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(client, case, change, status, code, field):
    symbol = fresh()
    assert post(client, "/v1/quote", snap(symbol, ts=1_000)).status_code == 200
    before = state_of(client)
    r = post(client, "/v1/quote", change(snap(symbol, ts=2_000)))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"] and r.json()["model"] == MODEL
    assert state_of(client) == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"symbol": "A", "ts_ns": 1, "bids": [[NaN, 1]], "asks": [[2, 1]]}', "finite_number"),
        (b'{"symbol": "A", "ts_ns": 1, "bids": [[1, Infinity]], "asks": [[2, 1]]}', "finite_number"),
        (b'{"symbol": "A", "ts_ns": 1, "bids": [[1e400, 1]], "asks": [[2, 1]]}', "finite_number"),
        (b'{"symbol": "A", "ts_ns": 1, "bids": [[1, 1]], "asks": [[2, 1]], "inventory": NaN}', "finite_number"),
        (b'{"symbol": "A", "ts_ns": 1, "bids": [[1, 1]]', "malformed_json"),
        (b"", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
    ],
)
def test_non_finite_numbers_and_malformed_json(client, body, code):
    r = post(client, "/v1/quote", body)
    assert r.status_code == (400 if code == "malformed_json" else 422)
    assert r.json()["error"]["code"] == code


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(client, content_type):
    r = post(client, "/v1/quote", snap(fresh()), content_type=content_type)
    assert r.status_code == 415 and r.json()["error"]["field"] == "content-type"


def test_body_over_the_limit_is_413(client):
    r = post(client, "/v1/quote", b"{" + b" " * 70_000 + b"}")
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_batch_over_256_snapshots_is_refused(client):
    body = orjson.dumps(
        {"snapshots": [snap(f"B{i}", tick=None) | {"bids": [[1.0, 1.0]], "asks": [[1.01, 1.0]]} for i in range(257)]}
    )
    assert len(body) < 64 * 1024
    r = post(client, "/v1/quotes", body)
    assert r.status_code == 422 and (r.json()["error"]["code"], r.json()["error"]["field"]) == ("too_long", "snapshots")
    assert "B0" not in state_of(client)


def test_health_readiness_and_kserve_paths(client):
    for path in ("/healthz", "/v2/health/live"):
        r = client.get(path)
        assert r.status_code == 200 and r.json() == {"status": "live", "model": MODEL}
    for path in ("/readyz", "/v2/health/ready"):
        r = client.get(path)
        assert r.status_code == 200 and r.json() == {"status": "ready", "model": MODEL}


def test_model_route_returns_the_manifest(client, bundle):
    r = client.get("/v1/model")
    manifest = orjson.loads((bundle / "manifest.json").read_bytes())
    assert r.status_code == 200
    assert r.json()["model"] == MODEL and r.json()["manifest"] == manifest
    assert r.json()["serving"]["levels"] == 10 and r.json()["serving"]["n_students"] == 4


def test_stats_counts_requests_errors_and_stage_percentiles(client):
    post(client, "/v1/quote", snap(fresh()))
    post(client, "/v1/quote", b"{", content_type="application/json")
    stats = client.get("/v1/stats").json()
    assert stats["model"] == MODEL and stats["requests"] >= 2
    assert stats["by_route"]["/v1/quote 200"] >= 1 and stats["errors"]["malformed_json"] >= 1
    stages = stats["latency_us"]["/v1/quote"]
    assert set(stages) == {"parse", "validate", "state", "features", "infer", "quote", "serialize", "total"}
    assert 0 < stages["infer"]["p50"] <= stages["total"]["p50"] <= stages["total"]["p99"] <= stages["total"]["max"]


def test_metrics_are_prometheus_text_with_stage_histograms(client):
    post(client, "/v1/quote", snap(fresh()))
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'cmm_stage_latency_seconds_bucket{le="1e-05",route="/v1/quote",stage="infer"}' in text
    assert 'cmm_model_info{name="tiny",version="0.0.1"} 1.0' in text
    assert 'cmm_requests_total{route="/v1/quote",status="200"}' in text
    count = next(
        line
        for line in text.splitlines()
        if line.startswith('cmm_stage_latency_seconds_count{route="/v1/quote",stage="total"}')
    )
    assert float(count.split()[-1]) >= 1


def test_unknown_route_and_method_are_json_errors(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found" and r.json()["model"] == MODEL
    r = client.get("/v1/quote")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"


def test_an_unexpected_error_in_the_quote_path_is_a_json_500_and_the_server_goes_on(client, monkeypatch):
    def broken(service, body: bytes, t0: int) -> bytes:
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(HANDLERS, "/v1/quote", broken)
    r = post(client, "/v1/quote", snap(fresh()))
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal" and r.json()["model"] == MODEL
    monkeypatch.undo()
    assert post(client, "/v1/quote", snap(fresh())).status_code == 200


def test_openapi_document_describes_the_request_bodies(client):
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/v1/quote"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/QuoteRequest"}
    assert {"QuoteRequest", "BatchRequest", "Snapshot", "QuoteOverrides"} <= set(doc["components"]["schemas"])


def test_reload_needs_the_token_and_a_sound_bundle(client, bundle, tmp_path):
    r = post(client, "/v1/admin/reload", {"bundle": str(bundle)})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = post(client, "/v1/admin/reload", {"bundle": str(bundle)}, authorization="Bearer wrong")
    assert r.status_code == 401
    auth = {"authorization": f"Bearer {TOKEN}"}
    r = post(client, "/v1/admin/reload", {"bundle": str(tmp_path / "missing")}, **auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "reload_failed"
    broken = write_tiny_bundle(tmp_path / "broken", version="9.9.9")
    (broken / "model.onnx").write_bytes((broken / "model.onnx").read_bytes() + b"\0")
    r = post(client, "/v1/admin/reload", {"bundle": str(broken)}, **auth)
    assert r.status_code == 422 and "sha256" in r.json()["error"]["message"]
    assert client.get("/healthz").json()["model"] == MODEL  # the old bundle still serves

    symbol = fresh()
    post(client, "/v1/quote", snap(symbol, ts=1_000))
    newer = write_tiny_bundle(tmp_path / "newer", version="0.0.2", seed=1)
    r = post(client, "/v1/admin/reload", {"bundle": str(newer)}, **auth)
    assert r.status_code == 200 and r.json()["model"] == {"name": "tiny", "version": "0.0.2"}
    assert r.json()["previous"] == MODEL
    q = post(client, "/v1/quote", snap(symbol, ts=2_000)).json()
    assert q["model"]["version"] == "0.0.2"
    r = post(client, "/v1/admin/reload", {"bundle": str(bundle)}, **auth)
    assert r.status_code == 200 and client.get("/healthz").json()["model"] == MODEL


@pytest.mark.parametrize("token", [None, ""])
def test_reload_route_does_not_exist_without_a_token(bundle, token):
    with TestClient(create_app(Settings(bundle=bundle, admin_token=token))) as c:
        r = post(c, "/v1/admin/reload", {"bundle": str(bundle)}, authorization="Bearer ")
        assert r.status_code == 404


def test_settings_come_from_cmm_environment_variables(bundle, monkeypatch):
    monkeypatch.setenv("CMM_BUNDLE", str(bundle))
    monkeypatch.setenv("CMM_MAX_LEVELS", "3")
    monkeypatch.setenv("CMM_QUOTE_MIN_HALF_SPREAD", "30")
    with TestClient(create_app()) as c:
        r = post(c, "/v1/quote", snap(fresh()))
        assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_levels"
        body = snap(fresh())
        body["bids"], body["asks"] = body["bids"][:3], body["asks"][:3]
        q = post(c, "/v1/quote", body).json()
        assert q["ask_px"] - q["bid_px"] >= 0.6 - 1e-9


def test_bad_quote_settings_are_refused_at_creation(bundle):
    with pytest.raises(ValueError, match="lot"):
        create_app(Settings(bundle=bundle, quote_lot=0.0))
