"""Shared test settings. Real data lives in ../shared; tests that need it skip with the reason."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_BINANCE = ROOT.parent / "shared" / "data" / "binance"


def require_binance(name: str) -> Path:
    path = SHARED_BINANCE / name
    if not path.exists():
        pytest.skip(f"real Binance capture {path} not present (../shared/data/binance is absent)")
    return path
