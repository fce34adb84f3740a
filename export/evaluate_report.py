"""The evaluation report as a terminal table and as JSON (NaN written as null)."""

from __future__ import annotations

import json
import math
from pathlib import Path

COLUMNS = (  # (header, summary key, format)
    ("EPnL", "epnl_mean", "{:.4g}"),
    ("sd", "epnl_sd", "{:.3g}"),
    ("MAP", "map_mean", "{:.3g}"),
    ("PnL/MAP", "pnl_map", "{:.4g}"),
    ("ND-PnL", "nd_pnl_mean", "{:.3g}"),
    ("Sharpe1s", "sharpe_mean", "{:.3f}"),
    ("MaxDD", "max_drawdown_mean", "{:.3g}"),
    ("fill%", "fill_rate_mean", "{:.2%}"),
    ("2-sided", "two_sided_mean", "{:.0%}"),
    ("spread", "spread_captured_mean", "{:.2f}"),
    ("AS5s", "adverse_selection_5s_mean", "{:.2f}"),
    ("sprdPnL", "spread_pnl_mean", "{:.3g}"),
    ("invPnL", "inventory_pnl_mean", "{:.3g}"),
)


def _fmt(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return pattern.format(value)


def table(report: dict) -> str:
    """One row per strategy: means over test episodes, PnL/MAP interval and EPnL difference to the reference."""
    head = ["strategy", *[c[0] for c in COLUMNS], "PnL/MAP 95%", "dEPnL vs " + report["reference"], "p"]
    rows = []
    for name, s in report["strategies"].items():
        summ = s["summary"]
        lo, hi = s["pnl_map_ci"]
        vs = s.get("vs_reference", {}).get("epnl")
        rows.append(
            [
                name,
                *[_fmt(summ.get(key), f) for _, key, f in COLUMNS],
                f"[{_fmt(lo, '{:.3g}')}, {_fmt(hi, '{:.3g}')}]",
                f"{vs['mean_diff']:+.3g} [{vs['ci_low']:+.3g}, {vs['ci_high']:+.3g}]" if vs else "(reference)",
                _fmt(vs["p_value"], "{:.3f}") if vs else "",
            ]
        )
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [head, *rows]
    ]
    ep = report["episodes"]
    o = report["options"]
    lines.insert(
        0,
        f"{ep['test']} test episodes of {ep['minutes']:g} min ({ep['val']} validation episodes for "
        f"tuning); latency {o['latency_ms']:g} ms + inference; fees maker {o['maker_bps']:g} / taker "
        f"{o['taker_bps']:g} bps; EPnL in quote currency, spread/AS in ticks; Sharpe of 1 s equity changes",
    )
    return "\n".join(lines + ["", per_dataset_table(report)])


def per_dataset_table(report: dict) -> str:
    """EPnL mean, PnL/MAP and fills per episode of each strategy on each dataset's test episodes."""
    labels = [d["label"] for d in report["datasets"]]
    head = ["EPnL | PnL/MAP | fills", *labels]
    rows = []
    for name, s in report["strategies"].items():
        cells = []
        for label in labels:
            d = s["per_dataset"].get(label)
            cells.append(
                "-"
                if d is None
                else f"{_fmt(d['epnl_mean'], '{:.3g}')} | {_fmt(d['pnl_map'], '{:.3g}')} | "
                f"{_fmt(d['fills_mean'], '{:.3g}')}"
            )
        rows.append([name, *cells])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [head, *rows]
    )


def _clean(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return _clean(obj.item())
    return obj


def write_json(report: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(report), indent=1, allow_nan=False))
