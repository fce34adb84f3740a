"""The HTTP API (FastAPI): routes, error mapping and the app's lifespan (load and warm the bundle).

Quote routes are `async def` over the raw body (orjson + strict pydantic), never FastAPI's body
parsing: ../shared/notes/serving.md measured threadpool hops and response models at hundreds of us.
Every response, errors included, carries {"model": {"name", "version"}}.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException
from starlette.responses import Response

from server.errors import RequestError, from_validation_error
from server.guard import Guard
from server.http import json_response, read_json_body
from server.metrics import RequestCounts, ServerCollector
from server.runtime import load_runtime
from server.schemas import BatchRequest, QuoteRequest, ReloadRequest
from server.service import QuoteService
from server.settings import Settings

log = logging.getLogger("uvicorn.error")
NO_MODEL = {"name": None, "version": None}
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def _body_schema(name: str) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def curl_example(host: str, port: int, symbol: str, tick: float) -> str:
    """A ready-to-paste request for the first instrument of the bundle."""
    bid, ask = round(10_000 * tick, 10), round(10_001 * tick, 10)
    body = {"symbol": symbol, "ts_ns": time.time_ns(), "bids": [[bid, 1.0]], "asks": [[ask, 1.0]], "inventory": 0.0}
    return (
        f"curl -s -X POST http://{host}:{port}/v1/quote -H 'content-type: application/json' "
        f"-d '{orjson.dumps(body).decode()}'"
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.quote_params()  # refuse bad quote settings before loading anything
    counts = RequestCounts()
    started = time.time()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = await asyncio.to_thread(load_runtime, settings.bundle)
        app.state.service = QuoteService(runtime, settings)
        app.state.ready = True
        symbol, tick = next(iter(runtime.ticks.items()), ("BTCUSDT", 0.01))
        log.info(
            "ready: %s %s from %s (warm-up %.2f s)", runtime.name, runtime.version, settings.bundle, runtime.warmup_s
        )
        log.info("try: %s", curl_example(settings.host, settings.port, symbol, tick))
        yield
        app.state.ready = False

    app = FastAPI(title="CMM Quote", version="1", lifespan=lifespan)
    app.state.ready = False
    app.state.service = None
    app.state.reload_lock = asyncio.Lock()
    app.state.counts = counts

    def model_id() -> dict:
        service = app.state.service
        return service.runtime.model_id if service else NO_MODEL

    def error_response(err: RequestError) -> Response:
        counts.errors[err.code] += 1
        return json_response({"error": err.body(), "model": model_id()}, err.status, err.headers)

    app.add_middleware(Guard, max_in_flight=settings.max_in_flight, counts=counts, model_id=model_id)

    def gauges() -> dict:
        service = app.state.service
        return {"model": model_id(), "in_flight": counts.in_flight, "symbols": len(service.states) if service else 0}

    def timings() -> dict:
        return app.state.service.timings if app.state.service else {}

    registry = CollectorRegistry(auto_describe=True)
    registry.register(ServerCollector(timings, counts, gauges))

    @app.exception_handler(RequestError)
    async def on_request_error(request: Request, err: RequestError) -> Response:
        return error_response(err)

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, err: HTTPException) -> Response:
        code = HTTP_CODES.get(err.status_code, "http_error")
        return error_response(RequestError(err.status_code, code, f"{request.method} {request.url.path}: {err.detail}"))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, err: RequestValidationError) -> Response:
        first = err.errors()[0] if err.errors() else {"type": "invalid", "loc": (), "msg": "invalid request"}
        return error_response(RequestError(422, first["type"], first["msg"], ".".join(map(str, first["loc"]))))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, err: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(RequestError(500, "internal", f"internal error ({type(err).__name__})"))

    def service_or_503() -> QuoteService:
        if not app.state.ready:
            raise RequestError(503, "not_ready", "the model is not loaded yet", headers={"retry-after": "1"})
        return app.state.service

    @app.post("/v1/quote", openapi_extra=_body_schema("QuoteRequest"), summary="Quote one snapshot")
    async def quote(request: Request) -> Response:
        t0 = time.perf_counter_ns()
        service = service_or_503()
        body = await read_json_body(request, settings.max_body_bytes)
        return json_response(service.quote(body, t0))

    @app.post("/v1/quotes", openapi_extra=_body_schema("BatchRequest"), summary="Quote many symbols at once")
    async def quotes(request: Request) -> Response:
        t0 = time.perf_counter_ns()
        service = service_or_503()
        body = await read_json_body(request, settings.max_body_bytes)
        return json_response(service.quote_batch(body, t0))

    @app.get("/v1/model", summary="The bundle's manifest")
    async def model() -> Response:
        runtime = service_or_503().runtime
        serving = {
            "bundle": str(runtime.bundle),
            "levels": runtime.levels,
            "n_features": runtime.n_features,
            "n_students": runtime.n_students,
            "warmup_s": round(runtime.warmup_s, 3),
        }
        return json_response({"model": runtime.model_id, "manifest": runtime.manifest, "serving": serving})

    @app.get("/v1/stats", summary="Request counts and recent latency percentiles per stage")
    async def stats() -> Response:
        service = app.state.service
        latency = {route: t.percentiles_us() for route, t in timings().items()}
        return json_response(
            {
                "model": model_id(),
                "uptime_s": round(time.time() - started, 3),
                **counts.as_dict(),
                "in_flight": counts.in_flight,
                "symbols": len(service.states) if service else 0,
                "latency_us": latency,
            }
        )

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def live() -> Response:
        return json_response({"status": "live", "model": model_id()})

    async def ready() -> Response:
        if not app.state.ready:
            return json_response({"status": "not ready", "model": model_id()}, 503, {"retry-after": "1"})
        return json_response({"status": "ready", "model": model_id()})

    for path in ("/healthz", "/v2/health/live"):
        app.add_api_route(path, live, methods=["GET"], summary="Liveness")
    for path in ("/readyz", "/v2/health/ready"):
        app.add_api_route(path, ready, methods=["GET"], summary="Readiness: loaded and warmed up")

    if settings.admin_token is not None:
        token = settings.admin_token.get_secret_value().encode()

        @app.post("/v1/admin/reload", openapi_extra=_body_schema("ReloadRequest"), summary="Swap in another bundle")
        async def reload(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, b"Bearer " + token):
                raise RequestError(
                    401,
                    "unauthorized",
                    "a valid bearer token is required",
                    "authorization",
                    {"www-authenticate": "Bearer"},
                )
            service = service_or_503()
            try:
                path = ReloadRequest.model_validate_json(await read_json_body(request, settings.max_body_bytes)).bundle
            except ValidationError as err:
                raise from_validation_error(err) from None
            async with app.state.reload_lock:
                previous = service.runtime.model_id
                try:
                    runtime = await asyncio.to_thread(load_runtime, path)
                except (FileNotFoundError, ValueError) as err:
                    raise RequestError(
                        422, "reload_failed", f"{err}; still serving {previous['name']} {previous['version']}", "bundle"
                    ) from None
                service.swap(runtime)
            log.info("reloaded: %s -> %s from %s", previous, runtime.model_id, path)
            return json_response(
                {"model": runtime.model_id, "previous": previous, "warmup_s": round(runtime.warmup_s, 3)}
            )

    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document plus the request-body schemas the raw-body routes refer to."""
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        _, defs = models_json_schema(
            [(m, "validation") for m in (QuoteRequest, BatchRequest, ReloadRequest)],
            ref_template="#/components/schemas/{model}",
        )
        doc.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        app.openapi_schema = doc
    return app.openapi_schema
