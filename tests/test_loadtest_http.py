"""The raw HTTP/1.1 client: keep-alive, Content-Length and chunked bodies, close, and bad replies."""

import asyncio

import pytest

from loadtest.http import Connection, ProtocolError, get, post_json
from loadtest.options import parse_target


def test_request_bytes():
    target = parse_target("http://127.0.0.1:8000/base")
    assert get(target, "/healthz") == b"GET /base/healthz HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
    raw = post_json(target, "/v1/quote", b'{"a":1}')
    assert raw.startswith(b"POST /base/v1/quote HTTP/1.1\r\n") and b"Content-Length: 7\r\n\r\n{" in raw


async def _exchange(replies: list[bytes], requests: int) -> tuple[list, list[int]]:
    """Serve the canned `replies` in order (one per request); return the responses and connections seen."""
    peers: list[int] = []
    queue = list(replies)

    async def handle(reader, writer):
        peers.append(id(writer))
        try:
            while queue:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(queue.pop(0))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    conn = Connection(parse_target(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"))
    out = []
    for _ in range(requests):
        try:
            out.append(await conn.request(get(conn.target, "/x")))
        except Exception as err:  # noqa: BLE001 - the test inspects what was raised
            out.append(err)
    conn.close()
    server.close()
    return out, peers


def test_keep_alive_content_length_and_chunked():
    replies = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 201 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    ]
    out, peers = asyncio.run(_exchange(replies, 3))
    assert [(r.status, r.body) for r in out] == [(200, b"hi"), (201, b"abcde"), (404, b"")]
    assert len(peers) == 1  # one socket for all three


def test_connection_close_reconnects():
    replies = [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na"] * 2
    out, peers = asyncio.run(_exchange(replies, 2))
    assert [r.body for r in out] == [b"a", b"a"] and len(peers) == 2


@pytest.mark.parametrize(
    "reply",
    [
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_bad_replies_raise_protocol_error(reply):
    out, _ = asyncio.run(_exchange([reply], 1))
    assert isinstance(out[0], ProtocolError)


def test_server_closing_mid_reply_raises_incomplete_read():
    out, _ = asyncio.run(_exchange([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], 1))
    assert isinstance(out[0], asyncio.IncompleteReadError)
