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
Handler = Callable[[QuoteService, bytes, int], bytes]
HANDLERS: dict[str, Handler] = {
    "/v1/quote": QuoteService.quote,
    "/v1/quotes": QuoteService.quote_batch,
}


class QuoteRoutes:
    """The quote routes, bounded in flight (beyond `max_in_flight`: 503 + Retry-After at once), in front of `app`."""

    def __init__(self, app: ASGIApp, ctx: Context):
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = HANDLERS.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter_ns()
        ctx, counts = self.ctx, self.ctx.counts
        if counts.in_flight >= ctx.settings.max_in_flight:
            message = f"{ctx.settings.max_in_flight} requests in flight already: retry shortly"
            await self._refuse(
                RequestError(503, "overloaded", message, None, {"retry-after": "1"}), scope, receive, send
            )
            return
        counts.in_flight += 1
        try:
            payload = await self._answer(handler, scope, receive, t0)
        except RequestError as err:
            await self._refuse(err, scope, receive, send)
        else:
            headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            counts.responses[(scope["path"], 200)] += 1
        finally:
            counts.in_flight -= 1

    async def _answer(self, handler: Handler, scope: Scope, receive: Receive, t0: int) -> bytes:
        """The response body, or a RequestError saying why not (an unexpected error is logged and becomes a 500)."""
        try:
            if scope["method"] != "POST":
                raise RequestError(
                    405, "method_not_allowed", f"{scope['method']} {scope['path']}: use POST", None, {"allow": "POST"}
                )
            service = self.ctx.serving()
            settings = self.ctx.settings
            body = await read_json_body(scope["headers"], receive, settings.max_body_bytes, settings.body_timeout_s)
            return handler(service, body, t0)
        except RequestError:
            raise
        except Exception as err:  # never a crash: log it and answer 500 like the FastAPI routes do
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            raise RequestError(500, "internal", f"internal error ({type(err).__name__})") from None

    async def _refuse(self, err: RequestError, scope: Scope, receive: Receive, send: Send) -> None:
        self.ctx.counts.responses[(scope["path"], err.status)] += 1
        await self.ctx.error_response(err)(scope, receive, send)
