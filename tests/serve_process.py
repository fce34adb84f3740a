"""`cmm serve` as a real process on a free loopback port, for the tests that need a real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    bundle: Path, env: dict | None = None, log: IO[bytes] | None = None, timeout_s: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `cmm serve` on `bundle`, wait until /readyz answers 200 (or fail the test with the server's
    output), yield (base url, process); stop the process afterwards if it still runs.
    The server's output goes to `log` when given, else stderr is kept for the failure message."""
    port = free_port()
    cmd = [sys.executable, "-m", "cmm", "serve", "--bundle", str(bundle), "--host", "127.0.0.1", "--port", str(port)]
    out = (
        {"stdout": log, "stderr": subprocess.STDOUT}
        if log
        else {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    )
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, **out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"cmm serve did not become ready: {_output(proc, log)[-2000:]}")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _output(proc: subprocess.Popen, log: IO[bytes] | None) -> str:
    if log is None:
        return proc.stderr.read().decode() if proc.poll() is not None else "(still running)"
    log.seek(0)
    return log.read().decode()
