"""Intended send times: the open-loop schedule, fixed before the run starts.

A request's latency is measured from its intended time here, never from when a connection
happened to be free, so a stalled server is charged for every request it kept waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUOTE = 0
HEALTH = 1
KIND_NAMES = ("quote", "healthz")


@dataclass(frozen=True)
class Schedule:
    """Requests in send order: `offset_ns` from the run start (non-decreasing) and `kind` (QUOTE or HEALTH)."""

    offset_ns: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.offset_ns)


def arrivals(
    rate: float, duration_s: float, max_count: int, arrival: str, rng: np.random.Generator, phase: float = 0.0
) -> np.ndarray:
    """Offsets in ns of one stream at `rate` per second over `duration_s`, at most `max_count` of them.

    `constant`: evenly spaced, the first at `phase` intervals; `poisson`: exponential gaps (`phase` unused).
    """
    expected = int(rate * duration_s)
    if arrival == "constant":
        t = (np.arange(min(expected, max_count)) + phase) / rate
    elif arrival == "poisson":
        gaps = rng.exponential(1.0 / rate, size=min(max_count, expected + 10 * int(np.sqrt(expected)) + 10))
        t = np.cumsum(gaps)
    else:
        raise ValueError(f"arrival {arrival!r}: expected 'constant' or 'poisson'")
    t_ns = np.round(t[t < duration_s] * 1e9).astype(np.int64)
    index = np.arange(len(t_ns))
    return np.maximum.accumulate(t_ns - index) + index  # strictly increasing even if two draws round alike


def build_schedule(
    rate: float, duration_s: float, max_requests: int, arrival: str = "constant", floor: bool = False, seed: int = 0
) -> Schedule:
    """The quote stream, plus with `floor` a health stream at the same rate; `max_requests` caps the total."""
    rng = np.random.default_rng(seed)
    quote_cap = max_requests // 2 if floor else max_requests
    offsets = [arrivals(rate, duration_s, max(quote_cap, 1), arrival, rng)]
    kinds = [np.full(len(offsets[0]), QUOTE, np.int8)]
    if floor:
        health = arrivals(rate, duration_s, max(max_requests - quote_cap, 1), arrival, rng, phase=0.5)
        offsets.append(health)
        kinds.append(np.full(len(health), HEALTH, np.int8))
    offset_ns = np.concatenate(offsets)
    kind = np.concatenate(kinds)
    order = np.argsort(offset_ns, kind="stable")
    return Schedule(offset_ns=offset_ns[order], kind=kind[order])
