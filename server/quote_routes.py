"""POST /v1/quote and /v1/quotes as plain ASGI, in front of FastAPI's middleware stack.

FastAPI's routing, request objects, exception middleware and response classes cost about 80 us a
request here (bench/bench_server.py: quote path alone vs through the app), more than the quote itself,
so the two hot routes skip them; every other path goes on to FastAPI. Errors are the same
`{"error", "model"}` responses as everywhere else (`Context.error_response`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import RequestError
from server.http import read_json_body
from server.routes import Context
from server.service import QuoteService

log = logging.getLogger("uvicorn.error")
HANDLERS: dict[str, Callable[[QuoteService, bytes, int], bytes]] = {
    "/v1/quote": QuoteService.quote,
    "/v1/quotes": QuoteService.quote_batch,
}


class QuoteRoutes:
    def __init__(self, app: ASGIApp, ctx: Context):
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = HANDLERS.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter_ns()
        ctx = self.ctx
        try:
            if scope["method"] != "POST":
                raise RequestError(
                    405, "method_not_allowed", f"{scope['method']} {scope['path']}: use POST", None, {"allow": "POST"}
                )
            service = ctx.serving()
            settings = ctx.settings
            body = await read_json_body(scope["headers"], receive, settings.max_body_bytes, settings.body_timeout_s)
            payload = handler(service, body, t0)
        except RequestError as err:
            await ctx.error_response(err)(scope, receive, send)
            return
        except Exception as err:  # never a crash: log it and answer 500 like the FastAPI routes do
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await ctx.error_response(RequestError(500, "internal", f"internal error ({type(err).__name__})"))(
                scope, receive, send
            )
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
