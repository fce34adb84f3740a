"""`cmm serve` as a real process on a free loopback port: real snapshots, a reload under traffic, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, require_binance
from tests.serve_process import free_port, running_server
from tests.server_snapshots import binance_requests
from tests.tiny_bundle import write_tiny_bundle

TOKEN = "integration-token"
TICK = 0.01  # spot BTCUSDT


@pytest.fixture
def server(tmp_path):
    bundle = write_tiny_bundle(tmp_path / "v1", version="0.0.1")
    env = {**os.environ, "CMM_ADMIN_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "server.log", "w+b") as log, running_server(bundle, env=env, log=log) as (base, proc):
        yield base, proc, log, tmp_path


def check_quote(q: dict, posted: dict) -> None:
    best_bid, best_ask = posted["bids"][0][0], posted["asks"][0][0]
    assert q["symbol"] == posted["symbol"] and q["ts_ns"] == posted["ts_ns"]
    assert q["bid_px"] is not None and q["ask_px"] is not None
    assert q["bid_px"] < q["ask_px"]
    assert q["bid_px"] < best_ask and q["ask_px"] > best_bid  # post-only against the posted book
    for px in (q["bid_px"], q["ask_px"]):
        assert abs(px / TICK - round(px / TICK)) < 1e-6


def test_serve_quote_reload_under_traffic_and_stop(server):
    base, proc, log, tmp_path = server
    requests = binance_requests(require_binance("spot_btcusdt_20240808.gz"), 520)
    btc, eth = requests[:120], requests[120:]  # one symbol: the second part continues the first in time

    with httpx.Client(base_url=base, timeout=10) as client:
        quotes = [client.post("/v1/quote", json=s) for s in btc]
        assert [r.status_code for r in quotes] == [200] * len(btc)
        for r, posted in zip(quotes, btc, strict=True):
            check_quote(r.json(), posted)
        assert [r.json()["warm"] for r in quotes[48:51]] == [False, True, True]  # window of 50 filled

        # reload to a new version while another client keeps quoting
        results: list[tuple[int, str]] = []
        stop = threading.Event()

        def flow() -> None:
            with httpx.Client(base_url=base, timeout=10) as c:
                for s in eth:
                    if stop.is_set():
                        break
                    r = c.post("/v1/quote", json=s)
                    results.append((r.status_code, r.json()["model"]["version"]))
                    if r.status_code == 200:
                        check_quote(r.json(), s)

        flowing = threading.Thread(target=flow)
        flowing.start()
        while len(results) < 20:
            time.sleep(0.01)
        newer = write_tiny_bundle(tmp_path / "v2", version="0.0.2", seed=1)
        r = client.post("/v1/admin/reload", json={"bundle": str(newer)}, headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        while not any(v == "0.0.2" for _, v in results[-5:]) and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        flowing.join(30)
        statuses = [status for status, _ in results]
        versions = [v for _, v in results]
        assert statuses == [200] * len(results), "a request failed during the reload"
        assert versions[0] == "0.0.1" and versions[-1] == "0.0.2"
        assert versions == sorted(versions), "an old-version answer after the swap"

        stats = client.get("/v1/stats").json()
        assert stats["by_route"]["/v1/quote 200"] == len(btc) + len(results)

    # graceful stop: a request whose body is still arriving when SIGTERM lands is answered
    body = json.dumps({**btc[-1], "symbol": "GRACEFUL", "tick": TICK}).encode()
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = f"POST /v1/quote HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        sock.sendall(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body[:50])
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(body[50:])
        reply = b"".join(iter(lambda: sock.recv(65536), b"")).decode()  # the server closes when done
    assert reply.startswith("HTTP/1.1 200"), reply
    assert '"symbol":"GRACEFUL"' in reply
    # uvicorn re-raises the signal after a clean shutdown, so the exit status is -SIGTERM
    assert proc.wait(30) in (0, -signal.SIGTERM)
    log.seek(0)
    assert b"Application shutdown complete" in log.read()


def test_serve_refuses_a_corrupt_bundle_with_a_clean_error(tmp_path):
    bundle = write_tiny_bundle(tmp_path / "b")
    (bundle / "model.onnx").write_bytes(b"not a graph")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "cmm", "serve", "--bundle", str(bundle), "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "sha256" in done.stderr and "Traceback" not in done.stderr
    assert Path(bundle / "model.onnx").exists()
