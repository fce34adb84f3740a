"""The ramp: step the rate up until quote p99 crosses the SLO or errors appear; report the highest rate that held."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, replace

from loadtest.client import run_sync
from loadtest.options import LoadOptions, RampOptions
from loadtest.payloads import QuotePayloads
from loadtest.report import run_summary


def run_ramp(
    base: LoadOptions, ramp: RampOptions, payloads: QuotePayloads, progress: Callable[[str], None] | None = None
) -> dict:
    """Run `base` at each of `ramp.rates()` in turn (each for `base.duration_s`), stopping at the first miss.

    Returns `{"slo_ms", "ramp", "steps": [run summary + "rate", "held"], "highest_rate_held", "stopped"}`.
    """
    steps: list[dict] = []
    highest = None
    stopped = f"no step missed up to the ramp's maximum, {ramp.max_rate:g} req/s"
    for rate in ramp.rates():
        if progress:
            progress(f"ramp step: {rate:g} req/s for {base.duration_s:g} s")
        summary = run_summary(run_sync(replace(base, rate=rate), payloads, progress=progress))
        errors = sum(k["errors"] for k in summary["kinds"].values())
        p99 = summary["kinds"]["quote"]["latency_ms"]["p99"]
        held = errors == 0 and not math.isnan(p99) and p99 <= ramp.slo_ms
        steps.append({"rate": rate, "held": held, **summary})
        if not held:
            why = f"{errors} errors" if errors else f"p99 {p99:.3f} ms > {ramp.slo_ms:g} ms"
            stopped = f"stopped at {rate:g} req/s ({why})"
            break
        highest = rate
    return {
        "slo_ms": ramp.slo_ms,
        "ramp": asdict(ramp),
        "steps": steps,
        "highest_rate_held": highest,
        "stopped": stopped,
    }
