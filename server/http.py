"""Small HTTP helpers: JSON responses from orjson, and reading a JSON body with type and size checks.

Bodies are read from the raw ASGI `receive` channel with the raw header list, so the quote path
(`server.quote_routes`) and the FastAPI routes share one implementation.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.responses import Response
from starlette.types import Receive

from server.errors import RequestError

JSON = "application/json"
Headers = list[tuple[bytes, bytes]]  # as in an ASGI scope: lower-case names


def json_response(payload: dict | bytes, status: int = 200, headers: dict | None = None) -> Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Response(body, status_code=status, headers=headers, media_type=JSON)


def header(headers: Headers, name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_json_body(headers: Headers, receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The request body, refused with 415 unless JSON, 413 beyond `limit` bytes (checked while reading),
    and 408 when it has not fully arrived within `timeout_s` (a slow body must not hold a slot for long)."""
    media_type = (header(headers, b"content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != JSON:
        raise RequestError(
            415, "unsupported_media_type", f"content-type must be {JSON}, got {media_type or 'none'}", "content-type"
        )
    declared = header(headers, b"content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise RequestError(413, "body_too_large", f"body of {declared} bytes, at most {limit}", "content-length")
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_limited(receive, limit)
    except TimeoutError:
        raise RequestError(408, "body_timeout", f"body not received within {timeout_s} s", "body") from None


async def _read_limited(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "client_disconnected", "the client went away before sending the body", "body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "body_too_large", f"body over {limit} bytes", "body")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
