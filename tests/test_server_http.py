"""Reading JSON bodies: content type, declared and streamed size limits."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from tests.tiny_bundle import write_tiny_bundle

LIMIT = 2048


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings(bundle=write_tiny_bundle(tmp_path_factory.mktemp("b")), max_body_bytes=LIMIT)
    with TestClient(create_app(settings)) as c:
        yield c


def test_a_chunked_body_is_cut_off_at_the_limit(client):
    def chunks():
        for _ in range(10):
            yield b" " * 512

    r = client.post("/v1/quote", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert r.status_code == 413 and r.json()["error"] == {
        "code": "body_too_large",
        "field": "body",
        "message": f"body over {LIMIT} bytes",
    }


def test_a_declared_length_over_the_limit_is_refused_before_reading(client):
    r = client.post("/v1/quote", content=b"{" + b" " * LIMIT + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["field"] == "content-length"


def test_json_with_a_charset_parameter_is_accepted(client):
    body = b'{"symbol": "BTCUSDT", "ts_ns": 1, "bids": [[100.0, 1.0]], "asks": [[100.01, 1.0]]}'
    r = client.post("/v1/quote", content=body, headers={"content-type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_a_body_that_stops_arriving_is_408_and_frees_its_slot(tmp_path):
    app = create_app(Settings(bundle=write_tiny_bundle(tmp_path), body_timeout_s=0.2, max_in_flight=1))

    async def stalled():
        yield b'{"symbol": '
        await asyncio.sleep(30)

    async def scenario() -> tuple[httpx.Response, int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                r = await client.post("/v1/quote", content=stalled(), headers={"content-type": "application/json"})
                return r, app.state.ctx.counts.in_flight

    started = time.monotonic()
    r, in_flight = asyncio.run(scenario())
    assert r.status_code == 408 and r.json()["error"]["code"] == "body_timeout"
    assert in_flight == 0 and time.monotonic() - started < 10
