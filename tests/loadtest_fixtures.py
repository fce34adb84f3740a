"""Fixtures of the load-test tests: a small dataset built in code, and a tiny HTTP/1.1 server.

The server runs on 127.0.0.1 on a free port, in its own thread and event loop. It answers
`POST /v1/quote` (echoing the symbol and ts_ns) and `GET /healthz`, and can stall once: the whole
server blocks (`time.sleep` on its loop thread, like a GC pause) when the request count reaches `stall_at`.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import orjson

from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset


class TinyServer:
    def __init__(self, stall_at: int | None = None, stall_s: float = 0.2, status: int = 200) -> None:
        self.stall_at = stall_at
        self.stall_s = stall_s
        self.status = status
        self.requests = 0
        self.stall_window_ns: tuple[int, int] | None = None  # Unix ns at the stall's start and end
        self.quotes: list[dict] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TinyServer:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("tiny server did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                length = next(
                    (int(v) for k, _, v in (x.partition(":") for x in lines) if k.lower() == "content-length"), 0
                )
                body = await reader.readexactly(length)
                self.requests += 1
                if self.requests == self.stall_at:
                    start = time.time_ns()
                    time.sleep(self.stall_s)  # blocks the whole server, as a stop-the-world pause would
                    self.stall_window_ns = (start, time.time_ns())
                if lines[0].startswith("POST /v1/quote"):
                    doc = orjson.loads(body)
                    self.quotes.append(doc)
                    reply = orjson.dumps({"symbol": doc["symbol"], "ts_ns": doc["ts_ns"], "bid": 1.0, "ask": 2.0})
                else:
                    reply = b'{"status":"ok"}'
                writer.write(
                    f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(reply)}\r\n\r\n".encode()
                    + reply
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def small_dataset(n: int = 300, levels: int = 5, symbol: str = "TESTUSDT", seed: int = 0) -> Dataset:
    """A valid random-walk book with trades, built in code (tick 0.01)."""
    rng = np.random.default_rng(seed)
    best_bid = 600_000 + np.cumsum(rng.integers(-2, 3, n))
    spread = rng.integers(1, 4, n)
    depth = np.arange(levels)
    bid_px = best_bid[:, None] - depth
    ask_px = (best_bid + spread)[:, None] + depth
    bid_sz = rng.uniform(0.1, 2.0, (n, levels))
    ask_sz = rng.uniform(0.1, 2.0, (n, levels))
    bid_sz[::7, -1] = 0.0  # a shallower book now and then: absent levels
    ts_ns = 1_700_000_000_000_000_000 + np.arange(1, n + 1, dtype=np.int64) * 100_000_000
    m = 2 * n
    trades = np.zeros(m, TRADE_DTYPE)
    trades["ts_ns"] = np.sort(rng.integers(ts_ns[0] - 100_000_000, ts_ns[-1], m))
    trades["side"] = rng.choice([BUY, SELL], m)
    trades["px"] = 600_000
    trades["sz"] = rng.uniform(0.001, 0.5, m)
    return Dataset(
        symbol=symbol,
        venue="test",
        tick=0.01,
        grid_ns=100_000_000,
        ts_ns=ts_ns,
        bid_px=bid_px,
        bid_sz=bid_sz,
        ask_px=ask_px,
        ask_sz=ask_sz,
        trades=trades,
    ).validate()
