"""The FastAPI route handlers (all but the quote routes: `server.quote_routes`) and the `Context` they share.

Each handler reads the `Context` from `request.app.state.ctx`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from server.errors import RequestError, parse_body
from server.http import json_response, read_json_body
from server.metrics import RequestCounts
from server.runtime import load_runtime
from server.schemas import ReloadRequest
from server.service import QuoteService
from server.settings import Settings

log = logging.getLogger("uvicorn.error")
NO_MODEL = {"name": None, "version": None}


@dataclass
class Context:
    """What the routes share: settings, counters, and the service once the bundle is loaded."""

    settings: Settings
    counts: RequestCounts = field(default_factory=RequestCounts)
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    service: QuoteService | None = None
    ready: bool = False
    started: float = field(default_factory=time.time)
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def model_id(self) -> dict:
        return self.service.runtime.model_id if self.service else NO_MODEL

    def error_response(self, err: RequestError) -> Response:
        """The one shape of a refusal: {"error": {code, field, message}, "model": {...}}, counted by code."""
        self.counts.errors[err.code] += 1
        return json_response({"error": err.body(), "model": self.model_id()}, err.status, err.headers)

    def serving(self) -> QuoteService:
        if not self.ready or self.service is None:
            raise RequestError(503, "not_ready", "the model is not loaded yet", headers={"retry-after": "1"})
        return self.service


def _ctx(request: Request) -> Context:
    return request.app.state.ctx


async def model(request: Request) -> Response:
    runtime = _ctx(request).serving().runtime
    serving = {
        "bundle": str(runtime.bundle),
        "levels": runtime.levels,
        "n_features": runtime.n_features,
        "n_students": runtime.n_students,
        "warmup_s": round(runtime.warmup_s, 3),
    }
    return json_response({"model": runtime.model_id, "manifest": runtime.manifest, "serving": serving})


async def stats(request: Request) -> Response:
    ctx = _ctx(request)
    timings = ctx.service.timings if ctx.service else {}
    return json_response(
        {
            "model": ctx.model_id(),
            "uptime_s": round(time.time() - ctx.started, 3),
            **ctx.counts.as_dict(),
            "in_flight": ctx.counts.in_flight,
            "symbols": len(ctx.service.states) if ctx.service else 0,
            "latency_us": {route: t.percentiles_us() for route, t in timings.items()},
        }
    )


async def metrics(request: Request) -> Response:
    return Response(generate_latest(_ctx(request).registry), media_type=CONTENT_TYPE_LATEST)


async def live(request: Request) -> Response:
    return json_response({"status": "live", "model": _ctx(request).model_id()})


async def ready(request: Request) -> Response:
    ctx = _ctx(request)
    if not ctx.ready:
        return json_response({"status": "not ready", "model": ctx.model_id()}, 503, {"retry-after": "1"})
    return json_response({"status": "ready", "model": ctx.model_id()})


async def reload(request: Request) -> Response:
    """Load, verify and warm another bundle beside the serving one, then swap; a failure changes nothing."""
    ctx = _ctx(request)
    token = ctx.settings.admin_token.get_secret_value().encode() if ctx.settings.admin_token else None
    given = request.headers.get("authorization", "").encode()
    if token is None or not hmac.compare_digest(given, b"Bearer " + token):
        raise RequestError(
            401, "unauthorized", "a valid bearer token is required", "authorization", {"www-authenticate": "Bearer"}
        )
    service = ctx.serving()
    body = await read_json_body(
        request.headers.raw, request.receive, ctx.settings.max_body_bytes, ctx.settings.body_timeout_s
    )
    path = parse_body(ReloadRequest, body).bundle
    async with ctx.reload_lock:
        previous = service.runtime.model_id
        try:
            runtime = await asyncio.to_thread(load_runtime, path)
        except (FileNotFoundError, ValueError) as err:
            serving = f"{previous['name']} {previous['version']}"
            raise RequestError(422, "reload_failed", f"{err}; still serving {serving}", "bundle") from None
        service.swap(runtime)
    log.info("reloaded: %s -> %s from %s", previous, runtime.model_id, path)
    return json_response({"model": runtime.model_id, "previous": previous, "warmup_s": round(runtime.warmup_s, 3)})
