"""docker/healthcheck.py against a loopback HTTP server, and docker/requirements.py on the real pyproject.toml."""

import importlib.util
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"docker_{name}", ROOT / "docker" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load("healthcheck")
requirements = _load("requirements")


@pytest.fixture
def readiness_server():
    """A loopback server answering GET /readyz with `state["status"]`; yields (port, state)."""
    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            code = state["status"] if self.path == "/readyz" else 404
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], state
    finally:
        server.shutdown()
        server.server_close()


def test_healthy_only_when_ready(readiness_server, monkeypatch, capsys):
    port, state = readiness_server
    monkeypatch.setenv("CMM_PORT", str(port))
    assert healthcheck.main() == 0
    state["status"] = 503
    assert healthcheck.main() == 1
    assert "503" in capsys.readouterr().err


def test_unhealthy_when_nothing_listens(readiness_server, monkeypatch):
    port, _ = readiness_server
    monkeypatch.setenv("CMM_PORT", "1")  # privileged port nobody serves in tests
    assert healthcheck.main() == 1


def test_requirements_are_the_base_dependencies():
    base = requirements.requirements(str(ROOT / "pyproject.toml"), [])
    names = {requirements.requirement_name(r) for r in base}
    assert {"numpy", "fastapi", "uvicorn", "onnxruntime", "pydantic-settings"} <= names
    assert not names & {"torch", "transformers", "onnx", "hdrhistogram"}


def test_a_named_requirement_comes_from_its_extra_and_a_missing_one_is_refused():
    assert requirements.requirements(str(ROOT / "pyproject.toml"), ["hdrhistogram"])[0].startswith("hdrhistogram")
    with pytest.raises(SystemExit, match="does not require nope"):
        requirements.requirements(str(ROOT / "pyproject.toml"), ["nope"])
