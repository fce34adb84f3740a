"""Quote server benchmark: server time per quote in process, and HTTP round trips with one keep-alive client.

    .venv/bin/python bench/bench_server.py [--bundle models/default] [--requests 3000]

Prints figures; asserts nothing about timings. Real snapshots are replayed from the Binance spot BTCUSDT
capture (../shared/data/binance); without `--bundle` (and no models/default) it uses the tiny test bundle.
HTTP: `cmm serve` runs as a real process (uvicorn, uvloop, httptools) and a blocking-socket client sends
`POST /v1/quote` and `GET /healthz` alternately, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import orjson
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.app import create_app  # noqa: E402
from server.runtime import load_runtime  # noqa: E402
from server.service import QuoteService  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.server_snapshots import binance_requests  # noqa: E402
from tests.tiny_bundle import write_tiny_bundle  # noqa: E402

SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/v1/quote",
    "raw_path": b"/v1/quote",
    "query_string": b"",
    "root_path": "",
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 1),
}
CAPTURE = ROOT.parent / "shared" / "data" / "binance" / "spot_btcusdt_20240808.gz"


def request_bodies(count: int) -> list[bytes]:
    """`count` bodies for one symbol, the capture's snapshots in time order (wrapping around)."""
    return [orjson.dumps(body) for body in binance_requests(CAPTURE, count)]


def pct(values_us: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(values_us, 50)), float(np.percentile(values_us, 99))


def in_process(bundle: Path, bodies: list[bytes], warmup: int) -> None:
    """Server time per quote: the quote path alone (bytes to bytes), then through the whole ASGI app."""
    service = QuoteService(load_runtime(bundle), Settings(bundle=bundle, max_gap_ms=1e12))
    times = np.empty(len(bodies))
    for i, body in enumerate(bodies):
        t0 = time.perf_counter_ns()
        service.quote(body, t0)
        times[i] = (time.perf_counter_ns() - t0) / 1e3
    p50, p99 = pct(times[warmup:])
    print(
        f"in-process server time per quote (quote path): p50 {p50:.1f} us  p99 {p99:.1f} us  (n={len(bodies) - warmup})"
    )
    stages = service.timings["/v1/quote"].percentiles_us()
    print("  stage p50 / p99 us: " + ", ".join(f"{s} {v['p50']:.1f}/{v['p99']:.1f}" for s, v in stages.items()))
    p50, p99 = pct(uvloop.run(_through_asgi(bundle, bodies))[warmup:])
    print(f"in-process server time per quote (whole ASGI app, no sockets): p50 {p50:.1f} us  p99 {p99:.1f} us")


async def _through_asgi(bundle: Path, bodies: list[bytes]) -> np.ndarray:
    """Call the ASGI app as uvicorn would, with the body already received; time until the last byte is sent."""
    app = create_app(Settings(bundle=bundle, max_gap_ms=1e12))
    times = np.empty(len(bodies))
    async with app.router.lifespan_context(app):
        for i, body in enumerate(bodies):
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            scope = {**SCOPE, "headers": headers}
            sent: list[dict] = []

            async def receive(body: bytes = body) -> dict:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict, sent: list = sent) -> None:
                sent.append(message)

            t0 = time.perf_counter_ns()
            await app(scope, receive, send)
            times[i] = (time.perf_counter_ns() - t0) / 1e3
            if sent[0]["status"] != 200:
                raise RuntimeError(f"quote {i}: HTTP {sent[0]['status']} {sent[1]['body'][:200]!r}")
    return times


class KeepAliveClient:
    """One blocking HTTP/1.1 connection; responses must carry Content-Length (uvicorn's do)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(head[9:12]), body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def over_http(bundle: Path, bodies: list[bytes], warmup: int) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "cmm", "serve", "--bundle", str(bundle), "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CMM_MAX_GAP_MS": "1e12"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = _connect(port, proc)
        health = f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode()
        head = f"POST /v1/quote HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        quote_us, health_us, server_us = [], [], []
        for i, body in enumerate(bodies):
            raw = f"{head}content-length: {len(body)}\r\n\r\n".encode() + body
            t0 = time.perf_counter_ns()
            status, reply = client.send(raw)
            t1 = time.perf_counter_ns()
            client.send(health)
            t2 = time.perf_counter_ns()
            if status != 200:
                raise RuntimeError(f"quote {i}: HTTP {status} {reply[:200]!r}")
            if i >= warmup:
                quote_us.append((t1 - t0) / 1e3)
                health_us.append((t2 - t1) / 1e3)
                server_us.append(orjson.loads(reply)["latency_us"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    q50, q99 = pct(np.array(quote_us))
    h50, h99 = pct(np.array(health_us))
    s50, s99 = pct(np.array(server_us, float))
    print(f"HTTP, one keep-alive client (n={len(quote_us)} each, interleaved):")
    print(f"  POST /v1/quote   p50 {q50:.1f} us  p99 {q99:.1f} us")
    print(f"  GET  /healthz    p50 {h50:.1f} us  p99 {h99:.1f} us")
    print(f"  quote / healthz  p50 ratio {q50 / h50:.2f}  p99 ratio {q99 / h99:.2f}")
    print(f"  server-reported latency_us of those quotes: p50 {s50:.0f} us  p99 {s99:.0f} us")


def _connect(port: int, proc: subprocess.Popen) -> KeepAliveClient:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cmm serve exited with {proc.returncode}")
        try:
            client = KeepAliveClient(port)
            if client.send(f"GET /readyz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode())[0] == 200:
                return client
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("cmm serve not ready within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="model bundle (default models/default, else the tiny test bundle)")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per part")
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    bundle = args.bundle or ROOT / "models" / "default"
    if args.bundle is None and not (bundle / "manifest.json").exists():
        bundle = write_tiny_bundle(Path(tempfile.mkdtemp(prefix="bench-bundle-")))
        warnings.warn(f"models/default is absent: benchmarking the tiny test bundle at {bundle}", stacklevel=1)
    runtime = load_runtime(bundle, warmup_runs=0)
    print(
        f"bundle {bundle}: {runtime.name} {runtime.version}, {runtime.n_features} features, "
        f"{runtime.n_students} students; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    bodies = request_bodies(args.requests + args.warmup)
    in_process(bundle, bodies, args.warmup)
    over_http(bundle, bodies, args.warmup)


if __name__ == "__main__":
    main()
