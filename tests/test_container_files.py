"""The container files agree with each other and with the issue: base image ARG, non-root, health check, compose.

Light, podman-free checks; `make container-test` (scripts/container_test.sh) builds and runs the images for real.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _stages() -> dict[str, str]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_base_image_is_an_arg_defaulting_to_python_slim():
    head = DOCKERFILE.split("\nFROM", 1)[0]
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", head, re.MULTILINE)
    sources = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert all(src == "${BASE_IMAGE}" or src in _stages() for src in sources)


def test_default_target_is_the_server_non_root_with_health_check_on_readiness():
    stages = _stages()
    assert list(stages)[-1] == "server"  # what a plain `docker build .` produces
    server = stages["server"]
    user = re.findall(r"^USER (\S+)", server, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^EXPOSE 8000$", server, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*healthcheck\.py", server, re.MULTILINE)
    assert "/readyz" in (ROOT / "docker" / "healthcheck.py").read_text()
    assert re.search(r"^ARG BUNDLE=models/default$", server, re.MULTILINE)
    assert re.search(r'^CMD \["cmm", "serve"\]$', server, re.MULTILINE)


def test_engine_stage_runs_as_non_root_too():
    engine = _stages()["engine"]
    assert re.findall(r"^USER (\S+)", engine, re.MULTILINE)[-1].split(":")[0] not in ("0", "root")


@pytest.mark.parametrize("heavy", ["torch", "transformers", "onnx ", "[train]", "[dev]"])
def test_no_training_dependency_is_installed(heavy):
    instructions = [ln for ln in DOCKERFILE.splitlines() if not ln.startswith("#")]
    assert not [ln for ln in instructions if heavy in ln]


def test_dockerignore_is_an_allow_list_without_venv_data_or_tests():
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert {"pyproject.toml", "server", "lob", "cmm", "models/default", "docker"} <= allowed
    assert not allowed & {".venv", "data", "runs", "tests", ".git"}


def test_compose_pins_cpus_reads_only_and_replays_through_the_load_tester():
    services = _compose()["services"]
    assert set(services) == {"quote", "engine"}
    stages = _stages()
    for name, service in services.items():
        assert service["read_only"] is True, name
        assert service["cpuset"], name
        assert service["build"]["target"] in stages, name
    assert services["quote"]["cpuset"] != services["engine"]["cpuset"]
    assert services["engine"]["depends_on"]["quote"]["condition"] == "service_healthy"
    command = services["engine"]["command"]
    assert command[0] == "loadtest" and any(arg.startswith("--log=") for arg in command)
    assert services["quote"]["environment"]["CMM_HOST"] == "127.0.0.1"  # host networking: loopback only
