"""Server settings, read from `CMM_*` environment variables (pydantic-settings).

Every field can be set as `CMM_<FIELD>` (e.g. `CMM_BUNDLE=models/default`, `CMM_MAX_SYMBOLS=500`,
`CMM_QUOTE_SPREAD_MULT=1.5`); `cmm serve` flags override the bundle, host, port and workers.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lob.quoting import QuoteParams


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CMM_", frozen=True, extra="ignore")

    bundle: Path = Path("models/default")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)

    # per-symbol state
    max_symbols: int = Field(1000, ge=1, description="symbols kept; the least recently used is evicted")
    max_gap_ms: float = Field(1000.0, gt=0, description="a longer gap between snapshots restarts the window")

    # protection
    max_body_bytes: int = Field(1 << 20, ge=1024)
    body_timeout_s: float = Field(5.0, gt=0, description="a body still arriving after this is refused with 408")
    max_levels: int = Field(50, ge=1, le=50)
    max_batch: int = Field(256, ge=1, le=256)
    max_trades: int = Field(1000, ge=0)
    max_in_flight: int = Field(64, ge=1, description="requests beyond this get 503 + Retry-After at once")
    graceful_shutdown_s: float = Field(10.0, gt=0)
    stats_window: int = Field(4096, ge=16, description="recent requests kept for /v1/stats percentiles")
    admin_token: SecretStr | None = Field(
        None, description="bearer token for /v1/admin/reload; unset or empty: no route"
    )

    # quoting rule defaults (lob.quoting.QuoteParams); requests may override within bounds
    quote_min_half_spread: float = 0.5
    quote_spread_mult: float = 1.0
    quote_skew_ticks: float = 1.0
    quote_max_inventory: float = 1.0
    quote_size_fraction: float = 0.1
    quote_lot: float = 0.001
    quote_max_size: float = 1.0

    @field_validator("admin_token")
    @classmethod
    def _empty_token_is_none(cls, token: SecretStr | None) -> SecretStr | None:
        return token if token is not None and token.get_secret_value() else None

    def quote_params(self) -> QuoteParams:
        """The default quote parameters; raises ValueError naming bad fields."""
        return QuoteParams(
            min_half_spread=self.quote_min_half_spread,
            spread_mult=self.quote_spread_mult,
            skew_ticks=self.quote_skew_ticks,
            max_inventory=self.quote_max_inventory,
            size_fraction=self.quote_size_fraction,
            lot=self.quote_lot,
            max_size=self.quote_max_size,
        )
