"""Summary statistics of a canonical dataset (`cmm data info`): one function returning a dict.

Covers what a user checks before training on a dataset: size and span, tick, spread and depth,
crossed rows (must be 0), trades, the balance of the targets at the default horizon, and the
share of each volatility regime (edges fitted on this dataset's training rows, as `build_table` does).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from lob.dataset import BUY, Dataset
from lob.table import NO_SPLIT, build_table
from lob.targets import DEFAULT_HORIZON, REGIMES, TASKS, targets, volume_kind


def dataset_info(ds: Dataset, horizon: int = DEFAULT_HORIZON) -> dict:
    """Statistics of `ds` as a JSON-ready dict of sections {section: {name: value}}."""
    return {
        "dataset": {
            "symbol": ds.symbol,
            "venue": ds.venue,
            "sources": ", ".join(s.get("name", "?") for s in ds.sources),
            "tick": ds.tick,
            "levels": ds.levels,
            "grid_ms": ds.grid_ns / 1e6,
        },
        "snapshots": _snapshot_stats(ds),
        "spread_ticks": _quantiles(ds.spread_ticks()) | {"one_tick_share": _share(ds.spread_ticks() == 1)},
        "depth": _depth_stats(ds),
        "trades": _trade_stats(ds),
        "targets": _target_stats(ds, horizon),
        "regimes": _regime_stats(ds, horizon),
        "cleaning": _flat(ds.report),
    }


def _snapshot_stats(ds: Dataset) -> dict:
    start, end = int(ds.ts_ns[0]), int(ds.ts_ns[-1])
    steps = np.diff(ds.ts_ns)
    return {
        "count": ds.n,
        "start_utc": _iso(start),
        "end_utc": _iso(end),
        "span_s": (end - start) / 1e9,
        "grid_gaps": int((steps > ds.grid_ns).sum()),
        "crossed_or_locked": int((ds.bid_px[:, 0] >= ds.ask_px[:, 0]).sum()),
    }


def _depth_stats(ds: Dataset) -> dict:
    bid_levels, ask_levels = (ds.bid_sz > 0).sum(axis=1), (ds.ask_sz > 0).sum(axis=1)
    return {
        "best_bid_size_mean": float(ds.bid_sz[:, 0].mean()),
        "best_ask_size_mean": float(ds.ask_sz[:, 0].mean()),
        f"bid_size_top{ds.levels}_mean": float(ds.bid_sz.sum(axis=1).mean()),
        f"ask_size_top{ds.levels}_mean": float(ds.ask_sz.sum(axis=1).mean()),
        "bid_levels_mean": float(bid_levels.mean()),
        "ask_levels_mean": float(ask_levels.mean()),
        "full_depth_share": _share((bid_levels == ds.levels) & (ask_levels == ds.levels)),
    }


def _trade_stats(ds: Dataset) -> dict:
    t = ds.trades
    buys = t["side"] == BUY
    span_s = max((ds.ts_ns[-1] - ds.ts_ns[0]) / 1e9, 1e-9)
    return {
        "count": len(t),
        "buy_share": _share(buys) if len(t) else None,
        "volume": float(t["sz"].sum()),
        "per_second": len(t) / span_s,
        "steps_with_trades_share": _share(_steps_with_trades(ds)),
    }


def _steps_with_trades(ds: Dataset) -> np.ndarray:
    step = np.searchsorted(ds.ts_ns, ds.trades["ts_ns"], side="left")  # step t covers (ts[t-1], ts[t]]
    hit = np.zeros(ds.n, bool)
    hit[step[step < ds.n]] = True
    return hit


def _target_stats(ds: Dataset, horizon: int) -> dict:
    y = targets(ds, horizon)
    ok = ~np.isnan(y).any(axis=1)
    if not ok.any():
        return {"horizon_steps": horizon, "rows": 0}
    mid, spread, volume = (y[ok, k] for k in range(len(TASKS)))
    return {
        "horizon_steps": horizon,
        "rows": int(ok.sum()),
        "mid_change_up_share": _share(mid > 0),
        "mid_change_flat_share": _share(mid == 0),
        "mid_change_down_share": _share(mid < 0),
        "mid_change_abs_mean": float(np.abs(mid).mean()),
        "spread_mean": float(spread.mean()),
        "volume_kind": volume_kind(ds),
        "volume_log1p_mean": float(volume.mean()),
        "volume_zero_share": _share(volume == 0),
    }


def _regime_stats(ds: Dataset, horizon: int) -> dict:
    try:
        table = build_table([ds], horizon)
    except ValueError as err:  # too few rows for a training split
        return {"error": str(err)}
    used = table.split != NO_SPLIT
    counts = np.bincount(table.regime[used], minlength=len(REGIMES))
    shares = {f"{name}_share": float(c / max(used.sum(), 1)) for name, c in zip(REGIMES, counts, strict=True)}
    return {"rows": int(used.sum()), "edges": [float(e) for e in table.edges]} | shares


def _quantiles(x: np.ndarray) -> dict:
    q = np.quantile(x, [0.5, 0.95])
    return {"mean": float(x.mean()), "median": float(q[0]), "p95": float(q[1]), "max": float(x.max())}


def _share(mask: np.ndarray) -> float:
    return float(np.mean(mask)) if len(mask) else 0.0


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")


def _flat(report: dict, prefix: str = "") -> dict:
    """A nested cleaning report as one level of dotted keys."""
    out = {}
    for key, value in report.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def format_info(info: dict) -> str:
    """The sections of `dataset_info` as a plain aligned two-column table."""
    rows = [(f"{section}.{name}", _fmt(value)) for section, values in info.items() for name, value in values.items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)
