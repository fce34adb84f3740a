"""Plain ASGI middleware: bounds the quote requests in flight (fast 503 + Retry-After) and counts responses."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import RequestCounts

ROUTES = frozenset(
    {
        "/v1/quote",
        "/v1/quotes",
        "/v1/model",
        "/v1/stats",
        "/v1/admin/reload",
        "/metrics",
        "/healthz",
        "/readyz",
        "/v2/health/live",
        "/v2/health/ready",
    }
)
LIMITED = frozenset({"/v1/quote", "/v1/quotes"})  # health, readiness, stats and metrics always answer


class Guard:
    def __init__(self, app: ASGIApp, max_in_flight: int, counts: RequestCounts, model_id: Callable[[], dict]):
        self.app = app
        self.max_in_flight = max_in_flight
        self.counts = counts
        self.model_id = model_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in ROUTES else "other"
        if self.counts.in_flight >= self.max_in_flight and scope["path"] in LIMITED:
            await self._overloaded(send)
            self.counts.responses[(route, 503)] += 1
            self.counts.errors["overloaded"] += 1
            return
        status = 500
        self.counts.in_flight += 1

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.counts.in_flight -= 1
            self.counts.responses[(route, status)] += 1

    async def _overloaded(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "error": {
                    "code": "overloaded",
                    "field": None,
                    "message": f"{self.max_in_flight} requests in flight already: retry shortly",
                },
                "model": self.model_id(),
            }
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", b"1"),
            (b"content-length", b"%d" % len(body)),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
