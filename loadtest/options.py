"""Options of a load run and of a ramp: frozen, validated on construction, bounded by design.

Every run has a duration, a request cap and a per-request timeout, so it always stops by itself.
The target must be a loopback address unless `allow_remote` says otherwise.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

ARRIVALS = ("constant", "poisson")
MAX_DURATION_S = 3600.0
MAX_REQUESTS = 2_000_000


@dataclass(frozen=True)
class Target:
    """Where requests go: an http:// URL split into the parts a raw HTTP/1.1 client needs."""

    host: str
    port: int
    base_path: str  # without a trailing slash, "" for the root

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"


def parse_target(url: str, allow_remote: bool = False) -> Target:
    """Parse `url`; refuse anything but http:// on a loopback address unless `allow_remote`."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"url {url!r}: only http:// is supported (got scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError(f"url {url!r}: no host")
    try:
        port = parts.port or 80
    except ValueError as err:
        raise ValueError(f"url {url!r}: bad port ({err})") from err
    if not allow_remote and not _is_loopback(parts.hostname):
        raise ValueError(f"url {url!r}: {parts.hostname} is not a loopback address (pass --allow-remote to load it)")
    return Target(host=parts.hostname, port=port, base_path=parts.path.rstrip("/"))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LoadOptions:
    """One open-loop run: `rate` quote requests per second for `duration_s`, on `connections` keep-alive sockets.

    Each symbol's quotes use one connection (symbol s on connection s mod `connections`), so they arrive
    in order; with fewer symbols than connections, the extra connections carry only health checks.
    `warmup_s` seconds are sent at the same rate first and not recorded. With `floor`, `GET /healthz`
    is sent at the same rate in the same run (half an interval apart for constant arrivals).
    """

    url: str
    rate: float
    duration_s: float
    symbols: int = 1
    connections: int = 4
    arrival: str = "constant"
    floor: bool = False
    warmup_s: float = 0.0
    max_requests: int = 1_000_000
    timeout_s: float = 2.0
    seed: int = 0
    allow_remote: bool = False

    def __post_init__(self) -> None:
        bad = [
            f.name
            for f in fields(self)
            if isinstance(getattr(self, f.name), float) and not math.isfinite(getattr(self, f.name))
        ]
        if not self.rate > 0:
            bad.append("rate must be > 0")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            bad.append(f"duration_s must be in (0, {MAX_DURATION_S:g}]")
        if not 0 <= self.warmup_s <= MAX_DURATION_S:
            bad.append(f"warmup_s must be in [0, {MAX_DURATION_S:g}]")
        if not 1 <= self.symbols <= 100_000:
            bad.append("symbols must be in [1, 100000]")
        if not 1 <= self.connections <= 1024:
            bad.append("connections must be in [1, 1024]")
        if self.arrival not in ARRIVALS:
            bad.append(f"arrival must be one of {ARRIVALS}")
        if not 1 <= self.max_requests <= MAX_REQUESTS:
            bad.append(f"max_requests must be in [1, {MAX_REQUESTS}]")
        if not 0 < self.timeout_s <= 60:
            bad.append("timeout_s must be in (0, 60]")
        if bad:
            raise ValueError("load options: " + "; ".join(bad))
        parse_target(self.url, self.allow_remote)

    @property
    def target(self) -> Target:
        return parse_target(self.url, self.allow_remote)


@dataclass(frozen=True)
class RampOptions:
    """A ramp: rates `start, start + step, ...` up to `max_rate`, each held for the run's duration.

    It stops at the first step whose quote p99 exceeds `slo_ms` or that has any error.
    """

    start: float
    step: float
    max_rate: float
    slo_ms: float = 5.0

    def __post_init__(self) -> None:
        bad = [f.name for f in fields(self) if not math.isfinite(getattr(self, f.name))]
        if not self.start > 0:
            bad.append("start must be > 0")
        if not self.step > 0:
            bad.append("step must be > 0")
        if not self.max_rate >= self.start:
            bad.append("max_rate must be >= start")
        if not self.slo_ms > 0:
            bad.append("slo_ms must be > 0")
        if bad:
            raise ValueError("ramp options: " + "; ".join(bad))
        if self.steps > 100:
            raise ValueError(f"ramp options: {self.steps} steps; at most 100 (raise step or lower max_rate)")

    @property
    def steps(self) -> int:
        return int(math.floor((self.max_rate - self.start) / self.step + 1e-9)) + 1

    def rates(self) -> list[float]:
        return [self.start + i * self.step for i in range(self.steps)]
