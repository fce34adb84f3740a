"""The HTTP API (FastAPI): `create_app` wires routes, error mapping, metrics and the lifespan.

The lifespan loads, verifies and warms the bundle before the server reports ready. Every JSON
response, errors included, carries {"model": {"name", "version"}}; errors are
{"error": {"code", "field", "message"}} with a 4xx status (5xx only for overload and readiness).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from server import routes
from server.errors import RequestError
from server.guard import CountResponses
from server.metrics import ServerCollector
from server.quote_routes import QuoteRoutes
from server.routes import Context
from server.runtime import load_runtime
from server.schemas import BatchRequest, QuoteRequest, ReloadRequest
from server.service import QuoteService
from server.settings import Settings

log = logging.getLogger("uvicorn.error")
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
BODY_SCHEMAS = (QuoteRequest, BatchRequest, ReloadRequest)


def curl_example(host: str, port: int, symbol: str, tick: float) -> str:
    """A ready-to-paste request for an instrument of the bundle."""
    bid, ask = round(10_000 * tick, 10), round(10_001 * tick, 10)
    body = {"symbol": symbol, "ts_ns": time.time_ns(), "bids": [[bid, 1.0]], "asks": [[ask, 1.0]], "inventory": 0.0}
    return (
        f"curl -s -X POST http://{host}:{port}/v1/quote -H 'content-type: application/json' "
        f"-d '{orjson.dumps(body).decode()}'"
    )


class QuoteApp(FastAPI):
    """FastAPI behind plain ASGI layers: `QuoteRoutes` serves the quote routes, which skip FastAPI's stack;
    every other request goes through `CountResponses` to FastAPI's own middleware stack."""

    def build_middleware_stack(self) -> ASGIApp:
        ctx: Context = self.state.ctx
        return QuoteRoutes(CountResponses(super().build_middleware_stack(), ctx.counts), ctx)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.quote_params()  # refuse bad quote settings before loading anything
    ctx = Context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = await asyncio.to_thread(load_runtime, settings.bundle)
        ctx.service = QuoteService(runtime, settings)
        gc.collect()
        gc.freeze()  # a full collection of the ~60k startup objects took 53 ms here; frozen, they are skipped
        ctx.ready = True
        symbol, tick = next(iter(runtime.ticks.items()), ("BTCUSDT", 0.01))
        log.info(
            "ready: %s %s from %s (warm-up %.2f s)", runtime.name, runtime.version, settings.bundle, runtime.warmup_s
        )
        log.info("try: %s", curl_example(settings.host, settings.port, symbol, tick))
        yield
        ctx.ready = False

    no_otel = {"tracing": False, "metrics": False, "logs": False}  # per-request provider checks; /metrics is ours
    app = QuoteApp(title="CMM Quote", version="1", lifespan=lifespan, telemetry=no_otel)
    app.state.ctx = ctx
    ctx.registry.register(ServerCollector(lambda: ctx.service.timings if ctx.service else {}, ctx.counts, _gauges(ctx)))
    _add_error_handlers(app, ctx)
    _add_routes(app, settings)
    app.openapi = lambda: _openapi(app)
    return app


def _gauges(ctx: Context) -> Callable[[], dict]:
    return lambda: {
        "model": ctx.model_id(),
        "in_flight": ctx.counts.in_flight,
        "symbols": len(ctx.service.states) if ctx.service else 0,
    }


QUOTE_DOCS = {  # served by server.quote_routes; documented here
    "/v1/quote": (QuoteRequest, "One snapshot in, one quote out"),
    "/v1/quotes": (BatchRequest, "Snapshots of distinct symbols in, one quote each, one inference"),
}


def _add_routes(app: FastAPI, settings: Settings) -> None:
    get = ["GET"]
    app.add_api_route("/v1/model", routes.model, methods=get, summary="The bundle's manifest")
    app.add_api_route("/v1/stats", routes.stats, methods=get, summary="Counts and recent latency percentiles")
    app.add_api_route("/metrics", routes.metrics, methods=get, summary="Prometheus metrics")
    for path in ("/healthz", "/v2/health/live"):
        app.add_api_route(path, routes.live, methods=get, summary="Liveness")
    for path in ("/readyz", "/v2/health/ready"):
        app.add_api_route(path, routes.ready, methods=get, summary="Readiness: loaded and warmed up")
    if settings.admin_token is not None:  # without a token the route does not exist
        extra = _post_doc(ReloadRequest, "Load, verify and warm another bundle, then swap")["post"]
        app.add_api_route("/v1/admin/reload", routes.reload, methods=["POST"], openapi_extra=extra)


def _post_doc(body: type, summary: str) -> dict:
    schema = {"$ref": f"#/components/schemas/{body.__name__}"}
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "200": {"description": "Quotes"},
                "4XX": {"description": "Refused: {error: {code, field, message}}"},
            },
        }
    }


def _add_error_handlers(app: FastAPI, ctx: Context) -> None:
    respond = ctx.error_response

    async def on_request_error(request: Request, err: RequestError) -> Response:
        return respond(err)

    async def on_http_error(request: Request, err: HTTPException) -> Response:
        code = HTTP_CODES.get(err.status_code, "http_error")
        return respond(RequestError(err.status_code, code, f"{request.method} {request.url.path}: {err.detail}"))

    async def on_unexpected(request: Request, err: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return respond(RequestError(500, "internal", f"internal error ({type(err).__name__})"))

    app.add_exception_handler(RequestError, on_request_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document plus the quote routes and the request-body schemas they refer to."""
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for path, (body, summary) in QUOTE_DOCS.items():
            doc["paths"][path] = _post_doc(body, summary)
        _, defs = models_json_schema(
            [(m, "validation") for m in BODY_SCHEMAS], ref_template="#/components/schemas/{model}"
        )
        doc.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        app.openapi_schema = doc
    return app.openapi_schema
