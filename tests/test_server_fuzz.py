"""Generated bodies never get a 5xx: random JSON, random bytes, and random near-valid snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.app import create_app
from server.settings import Settings
from tests.tiny_bundle import write_tiny_bundle

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with TestClient(create_app(Settings(bundle=write_tiny_bundle(tmp_path_factory.mktemp("b")), max_symbols=50))) as c:
        yield c


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 0.01, 1e308, 5e-324, 2**63, 2**63 - 1]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=40))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
levels = st.lists(st.one_of(st.lists(scalars, max_size=4), scalars), max_size=60)
snapshot_like = st.fixed_dictionaries(
    {
        "symbol": st.one_of(st.sampled_from(["BTCUSDT", "ETHUSDT", "X-1"]), scalars),
        "ts_ns": scalars,
        "bids": levels,
        "asks": levels,
    },
    optional={
        "inventory": scalars,
        "tick": scalars,
        "trades": st.lists(st.lists(scalars, max_size=4), max_size=5),
        "params": st.dictionaries(st.sampled_from(["spread_mult", "max_size", "lot", "x"]), scalars, max_size=3),
    },
)


@st.composite
def near_valid(draw) -> dict:
    """A sound book on the 0.01 grid (1-55 levels a side), sometimes with one defect planted."""
    book = {}
    for side, direction in (("bids", -1), ("asks", +1)):
        steps = draw(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=55))
        ticks = (10_000 if direction < 0 else 10_001) + direction * (np.cumsum(steps) - steps[0])
        sizes = draw(st.lists(st.floats(min_value=1e-8, max_value=1e6), min_size=len(steps), max_size=len(steps)))
        book[side] = [[round(t * 0.01, 2), sz] for t, sz in zip(ticks.tolist(), sizes, strict=True)]
    if draw(st.booleans()):
        side = draw(st.sampled_from(["bids", "asks"]))
        i = draw(st.integers(min_value=0, max_value=len(book[side]) - 1))
        j = draw(st.integers(min_value=0, max_value=1))
        book[side][i][j] = draw(st.one_of(st.sampled_from([0.0, -0.01, 100.005, 1e300]), st.floats(0, 200)))
    symbol = draw(st.sampled_from([f"S{i}" for i in range(40)]))
    ts_ns = draw(st.integers(min_value=0, max_value=2**63 - 1))
    return {"symbol": symbol, "tick": 0.01, "ts_ns": ts_ns, "inventory": draw(st.floats(-3, 3)), **book}


def assert_no_5xx(client: TestClient, path: str, content: bytes) -> dict:
    r = client.post(path, content=content, headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    body = r.json()
    assert "model" in body
    if r.status_code >= 400:
        assert set(body["error"]) == {"code", "field", "message"} and body["error"]["message"]
    return body


@FUZZ
@given(value=json_values)
def test_random_json_never_5xx(client, value):
    content = json.dumps(value, allow_nan=True).encode()
    assert_no_5xx(client, "/v1/quote", content)
    assert_no_5xx(client, "/v1/quotes", json.dumps({"snapshots": [value]}, allow_nan=True).encode())


@FUZZ
@given(content=st.binary(max_size=200))
def test_random_bytes_never_5xx(client, content):
    assert_no_5xx(client, "/v1/quote", content)


@FUZZ
@given(body=snapshot_like)
def test_snapshot_shaped_bodies_never_5xx(client, body):
    assert_no_5xx(client, "/v1/quote", json.dumps(body, allow_nan=True).encode())


@FUZZ
@given(body=near_valid())
def test_near_valid_books_are_quoted_post_only_or_refused(client, body):
    out = assert_no_5xx(client, "/v1/quote", json.dumps(body).encode())
    if "error" not in out:
        best_bid, best_ask = body["bids"][0][0], body["asks"][0][0]
        if out["bid_px"] is not None:
            assert out["bid_px"] < best_ask
        if out["ask_px"] is not None:
            assert out["ask_px"] > best_bid
        if out["bid_px"] is not None and out["ask_px"] is not None:
            assert out["bid_px"] < out["ask_px"]
