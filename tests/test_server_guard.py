"""Bounded quote requests in flight: beyond the bound a fast 503 with Retry-After; monitoring still answers."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from server.app import create_app
from server.settings import Settings
from tests.tiny_bundle import write_tiny_bundle


def test_requests_beyond_the_bound_get_503_and_retry_after(tmp_path):
    app = create_app(Settings(bundle=write_tiny_bundle(tmp_path), max_in_flight=1))
    body = orjson.dumps({"symbol": "BTCUSDT", "ts_ns": 1, "bids": [[100.0, 1.0]], "asks": [[100.01, 1.0]]})

    async def scenario() -> tuple:
        release = asyncio.Event()

        async def slow_body():
            yield body[:10]
            await release.wait()  # the first request stays in flight until released
            yield body[10:]

        headers = {"content-type": "application/json"}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                first = asyncio.create_task(client.post("/v1/quote", content=slow_body(), headers=headers))
                while app.state.ctx.counts.in_flight < 1:
                    await asyncio.sleep(0.001)
                refused = await client.post("/v1/quote", content=body, headers=headers)
                health = await client.get("/healthz")
                stats_while_busy = await client.get("/v1/stats")
                release.set()
                done = await first
                stats = (await client.get("/v1/stats")).json()
                return done, refused, health, stats_while_busy, stats

    first, refused, health, stats_while_busy, stats = asyncio.run(scenario())
    assert first.status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded" and refused.json()["model"]["name"] == "tiny"
    assert health.status_code == 200 and stats_while_busy.json()["in_flight"] == 2  # the quote and itself
    assert stats["errors"] == {"overloaded": 1} and stats["by_route"]["/v1/quote 503"] == 1
