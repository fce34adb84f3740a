"""Plots of run and ramp summaries (from `loadtest.report`): latency by percentile, and p99 against rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hdrh.histogram import HdrHistogram

from loadtest.stats import values_at_percentiles

NINES = 4  # the percentile axis runs to 99.99%


def percentile_curve(encoded: str) -> tuple[np.ndarray, np.ndarray]:
    """(x = 1 / (1 - p), latency ms) at points spread evenly on that log axis, from an encoded HdrHistogram."""
    hist = HdrHistogram.decode(encoded)
    x = np.logspace(0, NINES, 200)
    return x, values_at_percentiles(hist, 100.0 * (1.0 - 1.0 / x)) / 1000.0


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(7.5, 4.5), dpi=100)


def plot_run(summary: dict, path: str | Path, title: str = "") -> Path:
    """Latency by percentile on a log axis: quote and (if measured) the /healthz floor, open- and closed-loop."""
    plt, fig, ax = _figure()
    styles = {"quote": "tab:blue", "healthz": "tab:gray"}
    for name, k in summary["kinds"].items():
        label = "quote" if name == "quote" else "floor (GET /healthz)"
        for key, dash, what in (("hdr_latency_us", "-", "from intended send"), ("hdr_service_us", ":", "service time")):
            if k.get(key):
                x, y = percentile_curve(k[key])
                ax.plot(x, y, dash, color=styles.get(name, "k"), label=f"{label}, {what}")
    ax.set_xscale("log")
    _log_y(ax)
    ticks = 10.0 ** np.arange(NINES + 1)
    ax.set_xticks(ticks, [f"{100 * (1 - 1 / t):g}%" for t in ticks])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    opts = summary["options"]
    rate = f"{opts['rate']:g} quotes/s" + (f" + {opts['rate']:g} /healthz/s" if "healthz" in summary["kinds"] else "")
    ax.set_title(title or f"{rate} for {opts['duration_s']:g} s, {opts['connections']} connections")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def plot_ramp(ramp: dict, path: str | Path, title: str = "") -> Path:
    """p50 and p99 of quotes (and of the floor, if measured) against the offered rate, with the SLO line."""
    plt, fig, ax = _figure()
    rates = [s["rate"] for s in ramp["steps"]]
    for name, color in (("quote", "tab:blue"), ("healthz", "tab:gray")):
        if name not in ramp["steps"][0]["kinds"]:
            continue
        label = "quote" if name == "quote" else "floor (GET /healthz)"
        for pct, marker in (("p99", "o-"), ("p50", "s--")):
            values = [s["kinds"][name]["latency_ms"][pct] for s in ramp["steps"]]
            ax.plot(rates, values, marker, color=color, label=f"{label} {pct}")
    ax.axhline(ramp["slo_ms"], color="tab:red", lw=1, label=f"SLO {ramp['slo_ms']:g} ms")
    if ramp["highest_rate_held"] is not None:
        ax.axvline(ramp["highest_rate_held"], color="tab:green", lw=1, ls=":", label="highest rate held")
    _log_y(ax)
    ax.set_xlabel("offered rate (quote requests/s)")
    ax.set_ylabel("latency from intended send (ms)")
    ax.set_title(title or f"ramp: {ramp['stopped']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def _log_y(ax) -> None:
    """A log latency axis labelled in plain numbers (0.5, 1, 2 rather than 5 x 10^-1)."""
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:e}"[0] in "25" else ""))


def _save(plt, fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
