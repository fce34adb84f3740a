"""Plain ASGI middleware in front of the FastAPI routes: counts requests in flight and responses by status.

The quote routes (`server.quote_routes`) do the same themselves, and are the only ones bounded in
flight: health, readiness, stats and metrics always answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import RequestCounts

ROUTES = frozenset(
    {
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


class CountResponses:
    def __init__(self, app: ASGIApp, counts: RequestCounts):
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in ROUTES else "other"
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.counts.in_flight += 1
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.counts.in_flight -= 1
            self.counts.responses[(route, status)] += 1
