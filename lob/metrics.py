"""Quote-quality metrics: per episode from an `EpisodeResult`, then mean and sd over episodes.

Money is in the quote currency; spreads, markouts and adverse selection in ticks (size-weighted
over maker fills). Undefined values (no fills, a flat equity curve) are NaN, never 0.
- EPnL: final equity after the flatten;  MAP: mean |inventory| over the episode's steps;
- PnL/MAP over episodes is a RATIO OF MEANS: mean(EPnL) / mean(MAP) (NaN when mean(MAP) = 0);
- ND-PnL: EPnL / (mean market spread in currency);
- Sharpe and Sortino: of the equity changes sampled every `SHARPE_INTERVAL_S` second within an
  episode, not annualised; over episodes also mean(EPnL) / sd(EPnL);
- fill rate: maker volume filled / volume quoted (sum over decisions of both sides' sizes);
  hit rate per side: share of decisions quoting that side that got any fill;
- markout at h: side * (mid[ref + h] - px); adverse selection at h: spread captured - markout.
"""

from __future__ import annotations

import numpy as np

from lob.backtest import EpisodeResult

SHARPE_INTERVAL_S = 1.0
MARKOUT_S = (1.0, 5.0, 30.0)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def pnl_metrics(res: EpisodeResult) -> dict[str, float]:
    mean_spread = float(res.spread.mean()) * res.tick
    return {
        "epnl": res.epnl,
        "map": float(np.abs(res.inventory).mean()),
        "nd_pnl": _ratio(res.epnl, mean_spread),
        "spread_pnl": res.spread_pnl,
        "inventory_pnl": res.inventory_pnl,
        "fees": res.fees,
        "final_inventory_before_flatten": float(res.inventory[-1]),
    }


def risk_metrics(res: EpisodeResult, grid_s: float) -> dict[str, float]:
    every = max(int(round(SHARPE_INTERVAL_S / grid_s)), 1)
    change = np.diff(res.equity[::every])
    sd = change.std(ddof=1) if len(change) > 1 else 0.0
    downside = np.sqrt(np.mean(np.minimum(change, 0.0) ** 2)) if len(change) else 0.0
    drawdown = np.maximum.accumulate(res.equity) - res.equity
    return {
        "sharpe": _ratio(change.mean(), sd) if len(change) else float("nan"),
        "sortino": _ratio(change.mean(), downside) if len(change) else float("nan"),
        "max_drawdown": float(drawdown.max()),
    }


def activity_metrics(res: EpisodeResult) -> dict[str, float]:
    maker = res.fills[~res.fills["taker"]]
    quoted = float(res.quoted_bid.sum() + res.quoted_ask.sum())
    return {
        "fills": float(len(maker)),
        "volume": float(maker["sz"].sum()),
        "fill_rate": _ratio(float(maker["sz"].sum()), quoted),
        "bid_hit_rate": _ratio(float(res.bid_hit[res.quoted_bid > 0].sum()), float((res.quoted_bid > 0).sum())),
        "ask_hit_rate": _ratio(float(res.ask_hit[res.quoted_ask > 0].sum()), float((res.quoted_ask > 0).sum())),
        "two_sided": float(res.two_sided[1:].mean()),
    }


def fill_quality(res: EpisodeResult, mid: np.ndarray, grid_s: float) -> dict[str, float]:
    """Spread captured, markouts and adverse selection (ticks, size-weighted) of the maker fills.

    `mid` is the whole dataset's mid in ticks: markouts may look past the episode end (clipped to the data).
    """
    maker = res.fills[~res.fills["taker"]]
    size = maker["sz"]
    total = float(size.sum())
    side = maker["side"].astype(np.float64)
    captured = side * (mid[maker["ref_row"]] - maker["px"])
    out = {"spread_captured": _ratio(float(np.sum(captured * size)), total)}
    for h in MARKOUT_S:
        later = np.minimum(maker["ref_row"] + int(round(h / grid_s)), len(mid) - 1)
        markout = side * (mid[later] - maker["px"])
        out[f"markout_{h:g}s"] = _ratio(float(np.sum(markout * size)), total)
        out[f"adverse_selection_{h:g}s"] = _ratio(float(np.sum((captured - markout) * size)), total)
    return out


def episode_metrics(res: EpisodeResult, mid: np.ndarray, grid_s: float) -> dict[str, float]:
    return {**pnl_metrics(res), **risk_metrics(res, grid_s), **activity_metrics(res), **fill_quality(res, mid, grid_s)}


def forecast_errors(pred: np.ndarray, truth: np.ndarray, tasks: tuple[str, ...]) -> dict[str, float]:
    """MAE and RMSE per task, and the directional accuracy of the first task on rows where it moved."""
    ok = np.isfinite(pred).all(axis=1) & np.isfinite(truth).all(axis=1)
    pred, truth = pred[ok], truth[ok]
    out: dict[str, float] = {"forecast_rows": float(len(pred))}
    for i, task in enumerate(tasks):
        err = pred[:, i] - truth[:, i]
        out[f"{task}_mae"] = float(np.abs(err).mean()) if len(err) else float("nan")
        out[f"{task}_rmse"] = float(np.sqrt(np.mean(err**2))) if len(err) else float("nan")
    moved = truth[:, 0] != 0
    out[f"{tasks[0]}_direction_acc"] = (
        float(np.mean(np.sign(pred[moved, 0]) == np.sign(truth[moved, 0]))) if moved.any() else float("nan")
    )
    return out


def summarise(per_episode: list[dict[str, float]]) -> dict[str, float]:
    """Mean and sd (ddof 1) of every metric over episodes, PnL/MAP as a ratio of means, and the episode Sharpe."""
    if not per_episode:
        raise ValueError("no episodes to summarise")
    out: dict[str, float] = {"episodes": float(len(per_episode))}
    for key in per_episode[0]:
        values = np.array([m[key] for m in per_episode], np.float64)
        finite = values[np.isfinite(values)]
        out[f"{key}_mean"] = float(finite.mean()) if len(finite) else float("nan")
        out[f"{key}_sd"] = float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")
    out["pnl_map"] = _ratio(out["epnl_mean"], out["map_mean"])
    out["episode_sharpe"] = _ratio(out["epnl_mean"], out["epnl_sd"]) if np.isfinite(out["epnl_sd"]) else float("nan")
    return out
