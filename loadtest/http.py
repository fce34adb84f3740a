"""A minimal HTTP/1.1 keep-alive client connection on asyncio streams: requests built once as bytes.

Enough HTTP for a load generator: one request in flight per connection, Content-Length or chunked
response bodies, reconnect after the server closes. Anything else the server sends is a ProtocolError.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from loadtest.options import Target

MAX_BODY = 16 << 20


class ProtocolError(Exception):
    """The server's reply is not HTTP/1.1 this client understands."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


def post_json(target: Target, path: str, body: bytes) -> bytes:
    head = (
        f"POST {target.base_path}{path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def get(target: Target, path: str) -> bytes:
    return f"GET {target.base_path}{path} HTTP/1.1\r\nHost: {target.host_header}\r\n\r\n".encode("ascii")


class Connection:
    """One keep-alive socket, opened on first use and again after the server closes it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> Response:
        """Send one pre-built request and read its response. On any exception the socket is closed."""
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.target.host, self.target.port)
            self._writer.write(raw)
            response, keep_alive = await self._read_response(self._reader)
        except BaseException:
            self.close()
            raise
        if not keep_alive:
            self.close()
        return response

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {lines[0][:80]!r}")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip().lower()
        if headers.get("transfer-encoding", "") == "chunked":
            body = await _read_chunked(reader)
        else:
            length_text = headers.get("content-length", "0")
            if not length_text.isdigit() or int(length_text) > MAX_BODY:
                raise ProtocolError(f"content-length {length_text[:20]!r} not a number up to {MAX_BODY}")
            length = int(length_text)
            body = await reader.readexactly(length)
        keep_alive = headers.get("connection", "") != "close" and parts[0] != "HTTP/1.0"
        return Response(int(parts[1]), body), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as err:
            raise ProtocolError(f"bad chunk size line {size_line[:40]!r}") from err
        total += size
        if total > MAX_BODY:
            raise ProtocolError(f"chunked body over {MAX_BODY} bytes")
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
