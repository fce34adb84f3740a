"""Plain-text tables and JSON documents of runs and ramps (the same numbers in both)."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import orjson
from hdrh.histogram import HdrHistogram

from loadtest.client import RunResult
from loadtest.stats import KindStats, percentiles_ms

COLUMNS = ("p50", "p90", "p99", "p99.9", "max")


def kind_summary(stats: KindStats, measured_s: float) -> dict:
    return {
        "sent": stats.sent,
        "ok": stats.ok,
        "errors": stats.error_count,
        "errors_by_kind": dict(sorted(stats.errors.items())),
        "achieved_rate": stats.ok / measured_s if measured_s > 0 else 0.0,
        "latency_ms": percentiles_ms(stats.latency),
        "service_ms": percentiles_ms(stats.service),
        "hdr_latency_us": _encoded(stats.latency),
        "hdr_service_us": _encoded(stats.service),
    }


def _encoded(hist: HdrHistogram) -> str | None:
    """The histogram in HdrHistogram's compressed base64 form (`HdrHistogram.decode` reads it back)."""
    return hist.encode().decode("ascii") if hist.get_total_count() else None


def run_summary(result: RunResult) -> dict:
    """Everything the table shows, plus the options and the encoded latency histograms."""
    return {
        "options": asdict(result.options),
        "measured_s": result.measured_s,
        "kinds": {name: kind_summary(stats, result.measured_s) for name, stats in result.kinds.items()},
        "send_lag_ms": percentiles_ms(result.send_lag),
    }


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def run_table(summary: dict) -> str:
    """The run as a plain table: latency from the intended send time, then the closed-loop view beside it."""
    head = f"{'request':<18}{'sent':>9}{'ok':>9}{'errors':>8}{'rate/s':>9}" + "".join(f"{c:>9}" for c in COLUMNS)
    lines = [head + "   (ms)"]
    for name, k in summary["kinds"].items():
        for label, key in ((name, "latency_ms"), (f"  {name} service", "service_ms")):
            counts = (
                f"{k['sent']:>9}{k['ok']:>9}{k['errors']:>8}{k['achieved_rate']:>9.1f}"
                if key == "latency_ms"
                else " " * 35
            )
            lines.append(f"{label:<18}{counts}" + "".join(f"{_ms(k[key][c]):>9}" for c in COLUMNS))
    lag = summary["send_lag_ms"]
    lines.append(
        f"latency counts from each request's intended send time; 'service' from its actual send (what a "
        f"closed-loop tool reports). Send lag (queueing + client): p50 {_ms(lag['p50'])} ms, "
        f"p99 {_ms(lag['p99'])} ms, max {_ms(lag['max'])} ms."
    )
    for name, k in summary["kinds"].items():
        if k["errors"]:
            detail = ", ".join(f"{what} x{n}" for what, n in k["errors_by_kind"].items())
            lines.append(f"errors ({name}): {detail}")
    return "\n".join(lines)


def ramp_table(ramp: dict) -> str:
    lines = [f"{'rate/s':>9}{'sent':>9}{'ok':>9}{'errors':>8}{'achieved':>10}{'p50':>9}{'p99':>9}{'p99.9':>9}  held"]
    for step in ramp["steps"]:
        q = step["kinds"]["quote"]
        lat = q["latency_ms"]
        lines.append(
            f"{step['rate']:>9.0f}{q['sent']:>9}{q['ok']:>9}{q['errors']:>8}{q['achieved_rate']:>10.1f}"
            f"{_ms(lat['p50']):>9}{_ms(lat['p99']):>9}{_ms(lat['p99.9']):>9}  {'yes' if step['held'] else 'no'}"
        )
    best = ramp["highest_rate_held"]
    verdict = f"{best:g} req/s" if best is not None else "none (the first step already failed)"
    lines.append(f"highest rate with p99 <= {ramp['slo_ms']:g} ms and no errors: {verdict}; {ramp['stopped']}")
    return "\n".join(lines)


def write_json(path: str | Path, doc: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
