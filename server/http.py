"""Small HTTP helpers: JSON responses from orjson, and reading a JSON body with type and size checks."""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response

from server.errors import RequestError

JSON = "application/json"


def json_response(payload: dict | bytes, status: int = 200, headers: dict | None = None) -> Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Response(body, status_code=status, headers=headers, media_type=JSON)


async def read_json_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, refused with 415 unless JSON, 413 beyond `limit` bytes (checked while reading),
    and 408 when it has not fully arrived within `timeout_s` (a slow body must not hold a slot for long)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JSON:
        raise RequestError(
            415, "unsupported_media_type", f"content-type must be {JSON}, got {media_type or 'none'}", "content-type"
        )
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise RequestError(413, "body_too_large", f"body of {declared} bytes, at most {limit}", "content-length")
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_limited(request, limit)
    except TimeoutError:
        raise RequestError(408, "body_timeout", f"body not received within {timeout_s} s", "body") from None


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body straight from the ASGI receive channel (Starlette's stream generator costs more)."""
    chunks = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "client_disconnected", "the client went away before sending the body", "body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "body_too_large", f"body over {limit} bytes", "body")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
