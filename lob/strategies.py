"""Quoting strategies for the backtest: classic baselines and forecast-driven ones.

Every strategy is a set of candidate settings per dataset; each candidate turns an episode's rows
into `StrategyInputs` for the one quoting rule (`lob.quoting.make_quotes`), never a rule of its own.
Fitted quantities (volatility, trade intensity A and k, typical volume) come from training rows only;
the candidates are chosen on validation episodes by the evaluation, never on test.

- join the touch: bid and ask at the best bid and ask (half spread = half the market spread), no skew,
  only the inventory cap;
- fixed spread: fair = mid, half spread and linear inventory skew from the grid;
- microprice: fair = microprice (the size-weighted touch), same grid;
- Avellaneda-Stoikov (2008): reserve r = mid - q gamma sigma^2 (T - t), total spread
  gamma sigma^2 (T - t) + (2 / gamma) ln(1 + gamma / k), with q in units of the quote size;
- GLFT (Gueant, Lehalle, Fernandez-Tapia 2013, xi = gamma, Delta = one quote size):
  half = c1 + sigma c2 / 2, reserve skew sigma c2 per quote size of inventory,
  c1 = ln(1 + gamma / k) / gamma,  c2 = sqrt(gamma / (2 A k) (1 + gamma / k)^(k / gamma + 1));
- forecast: predicted mid change, spread and volume (a model, the teacher, or the oracle's true future).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lob.backtest import StrategyInputs
from lob.dataset import Dataset
from lob.features import feature_index
from lob.quoting import QuoteParams
from lob.table import Table

BASE_PARAMS = QuoteParams()
HALF_SPREAD_STEPS = 6  # grid points of the half spread, 0.5 tick .. 2 sigma_H
SKEW_MULTIPLES = (0.0, 2.0, 8.0)  # inventory skew at full inventory, in sigma_H
GAMMA_MULTIPLES = (0.01, 0.1, 1.0, 10.0)  # AS / GLFT risk aversion, in units of the fitted k


@dataclass(frozen=True)
class Candidate:
    knobs: dict
    params: QuoteParams
    inputs: Callable[[int, int], StrategyInputs]  # dataset rows [start, stop) -> inputs


@dataclass(frozen=True)
class Strategy:
    name: str
    candidates: Callable[[int], list[Candidate]]  # dataset index -> its candidate settings
    extra_latency_ms: float = 0.0  # inference time added to the quote latency
    predictions: np.ndarray | None = None  # (table rows, 3) forecasts, for forecast errors
    active: np.ndarray | None = None  # (table rows,) bool where the strategy can quote


@dataclass(frozen=True)
class DatasetFit:
    """Per-dataset quantities fitted on training rows."""

    sigma2_per_s: float  # variance of mid changes, ticks^2 per second
    sigma_h: float  # sd of the mid change over the horizon, ticks (>= 0.5): the grid's scale
    log_volume: float  # median log1p horizon volume (the baselines' size input)
    intensity_a: float  # trades per second at distance 0 from the mid
    intensity_k: float  # decay per tick of distance


@dataclass(frozen=True)
class Market:
    """What strategies may read: the datasets, their learning table, and per-dataset fits."""

    datasets: list[Dataset]
    table: Table
    offsets: np.ndarray = field(init=False)
    fits: list[DatasetFit] = field(init=False)

    def __post_init__(self) -> None:
        offsets = np.concatenate([[0], np.cumsum([ds.n for ds in self.datasets])[:-1]]).astype(np.int64)
        if len(self.table.row) != sum(ds.n for ds in self.datasets):
            raise ValueError("the table was not built from these datasets")
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "fits", [self._fit(i) for i in range(len(self.datasets))])

    def table_rows(self, i: int, start: int, stop: int) -> slice:
        return slice(int(self.offsets[i]) + start, int(self.offsets[i]) + stop)

    def train_rows(self, i: int) -> np.ndarray:
        rows = self.table.rows("train")
        return rows[self.table.dataset_id[rows] == i] - self.offsets[i]

    def _fit(self, i: int) -> DatasetFit:
        ds, rows = self.datasets[i], self.train_rows(i)
        if len(rows) < 2:
            raise ValueError(f"{ds.symbol}: too few training rows ({len(rows)}) to fit the baselines")
        grid_s = ds.grid_ns / 1e9
        mid = ds.mid_ticks()[rows[0] : rows[-1] + 1]
        y = self.table.Y[self.table_rows(i, rows[0], rows[-1] + 1)]
        a, k = fit_intensity(ds, rows[0], rows[-1] + 1)
        return DatasetFit(
            sigma2_per_s=float(np.var(np.diff(mid)) / grid_s),
            sigma_h=max(float(np.nanstd(y[:, 0])), 0.5),
            log_volume=float(np.nanmedian(y[:, 2])),
            intensity_a=a,
            intensity_k=k,
        )


def fit_intensity(ds: Dataset, start: int, stop: int) -> tuple[float, float]:
    """Trade arrival intensity lambda(d) = A exp(-k d) at distance d (ticks) from the mid, rows [start, stop).

    Least squares of log lambda on d over half-tick distance bins with trades; with fewer than two
    such bins (a one-tick book), k is the exponential MLE 1 / mean(d - d_min).
    """
    ts = ds.ts_ns[start:stop]
    lo, hi = np.searchsorted(ds.trades["ts_ns"], [ts[0], ts[-1]], side="right")
    trades = ds.trades[lo:hi]
    if len(trades) < 2:
        raise ValueError(f"{ds.symbol}: fewer than 2 trades in the training period: cannot fit trade intensity")
    before = np.searchsorted(ds.ts_ns, trades["ts_ns"], side="left") - 1  # last snapshot before each trade
    dist = np.abs(trades["px"] - ds.mid_ticks()[before])
    span_s = (ts[-1] - ts[0]) / 1e9
    levels = np.arange(0.5, np.quantile(dist, 0.99) + 0.5, 0.5)
    rate = np.array([(dist >= d).sum() for d in levels]) / span_s
    ok = rate > 0
    if ok.sum() >= 2:
        slope, intercept = np.polyfit(levels[ok], np.log(rate[ok]), 1)
        if slope < 0:
            return float(np.exp(intercept)), float(-slope)
    k = 1.0 / max(float(dist.mean() - dist.min()), 0.5)
    return float(len(trades) / span_s * np.exp(k * dist.min())), k


def quote_grid(fit: DatasetFit) -> list[dict]:
    """Half spread (0.5 tick .. 2 sigma_H, geometric) x inventory skew (multiples of sigma_H)."""
    halves = np.unique(np.round(np.geomspace(0.5, max(0.5, 2 * fit.sigma_h), HALF_SPREAD_STEPS) * 2) / 2)
    return [{"min_half_spread": float(h), "skew_ticks": float(m * fit.sigma_h)} for h in halves for m in SKEW_MULTIPLES]


def _quote_size(fit: DatasetFit, params: QuoteParams) -> float:
    volume = np.expm1(max(fit.log_volume, 0.0))
    return float(
        np.clip(np.round(params.size_fraction * volume / params.lot) * params.lot, params.lot, params.max_size)
    )


def forecast_strategy(
    name: str,
    market: Market,
    predictions: np.ndarray,
    active: np.ndarray | None = None,
    extra_latency_ms: float = 0.0,
) -> Strategy:
    """Quote from per-row forecasts (table rows x [mid_change, spread, log volume]); rows not `active` stay out."""
    predictions = np.asarray(predictions, np.float64)
    if predictions.shape != (len(market.table.row), 3):
        raise ValueError(f"{name}: predictions have shape {predictions.shape}, expected {(len(market.table.row), 3)}")
    usable = np.isfinite(predictions).all(axis=1) if active is None else active & np.isfinite(predictions).all(axis=1)
    filled = np.where(np.isfinite(predictions), predictions, 0.0)

    def candidates(i: int) -> list[Candidate]:
        def inputs(start: int, stop: int) -> StrategyInputs:
            sl = market.table_rows(i, start, stop)
            p = filled[sl]
            return StrategyInputs(p[:, 0], p[:, 1], p[:, 2], np.zeros(stop - start), usable[sl])

        return [Candidate(k, BASE_PARAMS.with_overrides(k), inputs) for k in quote_grid(market.fits[i])]

    return Strategy(name, candidates, extra_latency_ms, predictions, usable)


def fixed_spread(market: Market) -> Strategy:
    def candidates(i: int) -> list[Candidate]:
        lv = market.fits[i].log_volume

        def inputs(start: int, stop: int) -> StrategyInputs:
            n = stop - start
            return StrategyInputs(np.zeros(n), np.zeros(n), np.full(n, lv), np.zeros(n), np.ones(n, bool))

        return [Candidate(k, BASE_PARAMS.with_overrides(k), inputs) for k in quote_grid(market.fits[i])]

    return Strategy("fixed_spread", candidates)


def join_touch(market: Market) -> Strategy:
    params = BASE_PARAMS.with_overrides({"skew_ticks": 0.0})

    def candidates(i: int) -> list[Candidate]:
        ds, lv = market.datasets[i], market.fits[i].log_volume

        def inputs(start: int, stop: int) -> StrategyInputs:
            n = stop - start
            spread = ds.spread_ticks()[start:stop]
            return StrategyInputs(np.zeros(n), spread, np.full(n, lv), np.zeros(n), np.ones(n, bool))

        return [Candidate({"join": True}, params, inputs)]

    return Strategy("join_touch", candidates)


def microprice(market: Market) -> Strategy:
    col = feature_index("microprice_offset", market.table.levels)

    def candidates(i: int) -> list[Candidate]:
        lv = market.fits[i].log_volume

        def inputs(start: int, stop: int) -> StrategyInputs:
            n = stop - start
            offset = market.table.X[market.table_rows(i, start, stop), col].astype(np.float64)
            return StrategyInputs(offset, np.zeros(n), np.full(n, lv), np.zeros(n), np.ones(n, bool))

        return [Candidate(k, BASE_PARAMS.with_overrides(k), inputs) for k in quote_grid(market.fits[i])]

    return Strategy("microprice", candidates)


def _time_left_s(ds: Dataset, start: int, stop: int) -> np.ndarray:
    return (ds.ts_ns[stop - 1] - ds.ts_ns[start:stop]) / 1e9


def avellaneda_stoikov(market: Market) -> Strategy:
    def candidates(i: int) -> list[Candidate]:
        fit, ds = market.fits[i], market.datasets[i]
        unit = _quote_size(fit, BASE_PARAMS)
        params = BASE_PARAMS.with_overrides({"skew_ticks": 0.0, "min_half_spread": 0.5})
        out = []
        for mult in GAMMA_MULTIPLES:
            gamma = mult * fit.intensity_k

            def inputs(start: int, stop: int, gamma: float = gamma) -> StrategyInputs:
                n = stop - start
                risk = gamma * fit.sigma2_per_s * _time_left_s(ds, start, stop)  # ticks per quote size
                spread = risk + 2.0 / gamma * np.log1p(gamma / fit.intensity_k)
                return StrategyInputs(np.zeros(n), spread, np.full(n, fit.log_volume), risk / unit, np.ones(n, bool))

            out.append(Candidate({"gamma": gamma}, params, inputs))
        return out

    return Strategy("avellaneda_stoikov", candidates)


def glft_coefficients(gamma: float, a: float, k: float) -> tuple[float, float]:
    """GLFT's c1 (ticks) and c2 (per tick of sigma), with xi = gamma and Delta = 1."""
    c1 = np.log1p(gamma / k) / gamma
    c2 = np.sqrt(gamma / (2 * a * k) * (1 + gamma / k) ** (k / gamma + 1))
    return float(c1), float(c2)


def glft(market: Market) -> Strategy:
    def candidates(i: int) -> list[Candidate]:
        fit = market.fits[i]
        unit = _quote_size(fit, BASE_PARAMS)
        sigma = np.sqrt(fit.sigma2_per_s)
        params = BASE_PARAMS.with_overrides({"skew_ticks": 0.0, "min_half_spread": 0.5})
        out = []
        for mult in GAMMA_MULTIPLES:
            gamma = mult * fit.intensity_k
            c1, c2 = glft_coefficients(gamma, fit.intensity_a, fit.intensity_k)
            half, skew = c1 + sigma * c2 / 2, sigma * c2

            def inputs(start: int, stop: int, half: float = half, skew: float = skew) -> StrategyInputs:
                n = stop - start
                return StrategyInputs(
                    np.zeros(n),
                    np.full(n, 2 * half),
                    np.full(n, fit.log_volume),
                    np.full(n, skew / unit),
                    np.ones(n, bool),
                )

            out.append(Candidate({"gamma": gamma, "half_spread": half, "skew_per_quote": skew}, params, inputs))
        return out

    return Strategy("glft", candidates)


def classic_strategies(market: Market) -> list[Strategy]:
    return [join_touch(market), fixed_spread(market), microprice(market), avellaneda_stoikov(market), glft(market)]


def oracle(market: Market) -> Strategy:
    """Knows the true future mid change, spread and volume: an upper bound, not a strategy."""
    return forecast_strategy("oracle", market, market.table.Y)


def partial_predictions(
    n_rows: int, rows: np.ndarray, values: np.ndarray, dataset_id: np.ndarray, max_age: int
) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts known on a subset of table rows (e.g. the teacher's) over all rows.

    Each row takes the latest forecast of its own dataset at most `max_age` rows old; other rows
    are inactive (the strategy does not quote there). Returns (predictions (n_rows, 3), active).
    """
    rows, values = np.asarray(rows, np.int64), np.asarray(values, np.float64)
    if values.shape != (len(rows), 3):
        raise ValueError(f"partial predictions: values have shape {values.shape}, expected {(len(rows), 3)}")
    if len(rows) and (rows.min() < 0 or rows.max() >= n_rows):
        raise ValueError(f"partial predictions: row indices outside 0..{n_rows - 1}")
    order = np.argsort(rows, kind="stable")
    rows, values = rows[order], values[order]
    idx = np.arange(n_rows)
    src = np.searchsorted(rows, idx, side="right") - 1
    ok = src >= 0
    src_row = np.where(ok, rows[np.maximum(src, 0)], -1)
    ok &= (idx - src_row <= max_age) & (dataset_id[np.maximum(src_row, 0)] == dataset_id)
    pred = np.full((n_rows, 3), np.nan)
    pred[ok] = values[src[ok]]
    return pred, ok
