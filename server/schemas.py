"""Request bodies: structure and types (pydantic, strict JSON); book semantics are checked in `server.book`.

Parsed with `model_validate_json` in strict mode: a string where a number belongs, a float timestamp,
a missing or unknown field, NaN or infinity are refused with the field's path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_LEVELS = 50  # hard cap per side; `Settings.max_levels` may lower it
MAX_BATCH = 256
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
SYMBOL_MAX_LENGTH = 32

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN, min_length=1, max_length=SYMBOL_MAX_LENGTH)]
Level = tuple[Positive, Positive]  # [price, size]
Trade = tuple[Positive, Positive, Literal["buy", "sell"]]  # [price, size, aggressor side]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class QuoteOverrides(_Strict):
    """Per-request changes to the quote parameters, within these bounds (risk limits: at most the server's)."""

    min_half_spread: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False)
    spread_mult: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    skew_ticks: float | None = Field(None, ge=0, le=1000, allow_inf_nan=False)
    max_inventory: float | None = Field(None, gt=0, allow_inf_nan=False)
    size_fraction: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    max_size: float | None = Field(None, gt=0, allow_inf_nan=False)


class Snapshot(_Strict):
    symbol: Symbol
    ts_ns: int = Field(ge=0, lt=1 << 63, description="exchange time of the snapshot, ns since the Unix epoch")
    bids: list[Level] = Field(min_length=1, max_length=MAX_LEVELS, description="best first, strictly decreasing")
    asks: list[Level] = Field(min_length=1, max_length=MAX_LEVELS, description="best first, strictly increasing")
    inventory: float = Field(0.0, allow_inf_nan=False, description="current position, base units")
    trades: list[Trade] = Field(
        default_factory=list, description="aggressor trades since the previous snapshot: [price, size, side]"
    )
    tick: Positive | None = Field(None, description="price tick, for symbols the bundle does not list")


class QuoteRequest(Snapshot):
    params: QuoteOverrides | None = None


class BatchRequest(_Strict):
    snapshots: list[Snapshot] = Field(min_length=1, max_length=MAX_BATCH)
    params: QuoteOverrides | None = None


class ReloadRequest(_Strict):
    bundle: str = Field(min_length=1, max_length=4096)
