"""Quote quality of a model bundle against classic baselines, in the conservative backtest.

1. datasets -> learning table (chronological train / val / test per dataset);
2. forecasts of the bundle's graphs (CMM, label-only student, single distilled student) for every row,
   in batches with ONNX Runtime; each one's single-row inference time is added to its quote latency;
3. strategies: classic baselines fitted on training rows, the models, the oracle, and optional
   precomputed forecasts on a subset of rows (the teacher);
4. each strategy's setting chosen per dataset by mean EPnL over VALIDATION episodes;
5. the chosen settings replayed on TEST episodes: metrics per episode, mean and sd over episodes,
   PnL/MAP with a bootstrap interval, and a paired bootstrap of each strategy against the reference (CMM).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lob.backtest import EpisodeResult, Fees, episode_bounds, run_episode
from lob.metrics import episode_metrics, forecast_errors, summarise
from lob.stats import paired_bootstrap, ratio_of_means_interval
from lob.strategies import Candidate, Market, Strategy, classic_strategies, forecast_strategy, oracle
from lob.targets import TASKS

MODEL_GRAPHS = {
    "cmm": "model.onnx",
    "label_only": "baselines/label_only.onnx",
    "single_distilled": "baselines/single_distilled.onnx",
}
ONNX_BATCH = 65_536
TIMING_CALLS = 200


@dataclass(frozen=True)
class EvalOptions:
    episodes_min: float = 1.0
    latency_ms: float = 10.0  # order round trip; a model's inference time is added on top
    maker_bps: float = 0.0
    taker_bps: float = 0.0
    reference: str = "cmm"
    n_boot: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        bad = [n for n in ("episodes_min",) if not self.episodes_min > 0]
        bad += [n for n in ("latency_ms",) if not (np.isfinite(self.latency_ms) and self.latency_ms >= 0)]
        bad += [n for n in ("n_boot",) if self.n_boot < 100]
        if bad:
            raise ValueError(f"invalid evaluation options: {', '.join(bad)}")
        Fees(self.maker_bps, self.taker_bps)  # validates the fees

    @property
    def fees(self) -> Fees:
        return Fees(self.maker_bps, self.taker_bps)


@dataclass(frozen=True)
class Episode:
    dataset: int
    start: int
    stop: int


@dataclass(frozen=True)
class StrategyResult:
    name: str
    latency_ms: float
    chosen: dict[str, dict]  # dataset symbol -> the knobs chosen on validation
    validation_epnl: dict[str, float]  # dataset symbol -> mean validation EPnL of the chosen knobs
    results: list[EpisodeResult]  # one per test episode, in `Evaluation.test` order
    metrics: list[dict[str, float]]


def model_predictions(bundle: Path, X: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """Forecasts (rows, 3) of each graph the bundle holds, and its median single-row inference time (ms)."""
    import onnxruntime as ort

    bundle = Path(bundle)
    if not (bundle / MODEL_GRAPHS["cmm"]).exists():
        raise FileNotFoundError(f"{bundle}: no {MODEL_GRAPHS['cmm']} (is this a model bundle directory?)")
    out = {}
    for name, rel in MODEL_GRAPHS.items():
        path = bundle / rel
        if not path.exists():
            continue
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        missing = set(TASKS) - set(names)
        if missing:
            raise ValueError(f"{path}: outputs {names} lack {sorted(missing)}")
        x = np.ascontiguousarray(X, np.float32)
        parts = [session.run(list(TASKS), {"features": x[a : a + ONNX_BATCH]}) for a in range(0, len(x), ONNX_BATCH)]
        pred = np.column_stack([np.concatenate([p[i] for p in parts]) for i in range(len(TASKS))]).astype(np.float64)
        out[name] = (pred, _single_row_ms(session, x))
    return out


def _single_row_ms(session, x: np.ndarray) -> float:
    rows = x[np.linspace(0, len(x) - 1, TIMING_CALLS).astype(int)]
    for r in rows[:20]:  # warm up
        session.run(list(TASKS), {"features": r[None]})
    times = []
    for r in rows:
        t0 = time.perf_counter()
        session.run(list(TASKS), {"features": r[None]})
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def dataset_labels(market: Market) -> list[str]:
    """`venue:symbol` per dataset, numbered where two datasets share one."""
    names = [f"{ds.venue}:{ds.symbol}" for ds in market.datasets]
    return [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def split_episodes(market: Market, split: str, minutes: float) -> list[Episode]:
    """Consecutive `minutes`-long episodes over each dataset's rows of one split."""
    table = market.table
    rows = table.rows(split)
    out = []
    for i, ds in enumerate(market.datasets):
        mine = rows[table.dataset_id[rows] == i] - market.offsets[i]
        if len(mine):
            mine = np.arange(mine[0], mine[-1] + 1)  # the split is one time range per dataset
        out += [Episode(i, a, b) for a, b in episode_bounds(ds.ts_ns, mine, minutes)]
    return out


def _replay(market: Market, cand: Candidate, ep: Episode, latency_ms: float, fees: Fees) -> EpisodeResult:
    ds = market.datasets[ep.dataset]
    return run_episode(ds, ep.start, ep.stop, cand.inputs(ep.start, ep.stop), cand.params, int(latency_ms * 1e6), fees)


def choose(market: Market, strategy: Strategy, val: list[Episode], latency_ms: float, fees: Fees):
    """Per dataset, the candidate with the best mean EPnL over its validation episodes."""
    chosen, scores = {}, {}
    for i, ds in enumerate(market.datasets):
        mine = [ep for ep in val if ep.dataset == i]
        if not mine:
            raise ValueError(f"{ds.symbol}: no validation episode: use shorter --episodes-min or more data")
        best = None
        for cand in strategy.candidates(i):
            score = float(np.mean([_replay(market, cand, ep, latency_ms, fees).epnl for ep in mine]))
            if best is None or score > best[0]:
                best = (score, cand)
        scores[i], chosen[i] = best
    return chosen, scores


def run_strategy(
    market: Market, strategy: Strategy, val: list[Episode], test: list[Episode], options: EvalOptions
) -> StrategyResult:
    latency = options.latency_ms + strategy.extra_latency_ms
    chosen, scores = choose(market, strategy, val, latency, options.fees)
    results = [_replay(market, chosen[ep.dataset], ep, latency, options.fees) for ep in test]
    metrics = [
        episode_metrics(r, market.datasets[ep.dataset].mid_ticks(), market.datasets[ep.dataset].grid_ns / 1e9)
        for r, ep in zip(results, test, strict=True)
    ]
    symbols = dataset_labels(market)
    return StrategyResult(
        name=strategy.name,
        latency_ms=latency,
        chosen={symbols[i]: c.knobs for i, c in chosen.items()},
        validation_epnl={symbols[i]: s for i, s in scores.items()},
        results=results,
        metrics=metrics,
    )


def build_strategies(
    market: Market, models: dict[str, tuple[np.ndarray, float]], partial: dict[str, tuple[np.ndarray, np.ndarray]]
) -> list[Strategy]:
    """Models first (in MODEL_GRAPHS order), then precomputed partial forecasts, the classics and the oracle."""
    out = [forecast_strategy(n, market, pred, extra_latency_ms=ms) for n, (pred, ms) in models.items()]
    out += [forecast_strategy(n, market, pred, active=active) for n, (pred, active) in partial.items()]
    return out + classic_strategies(market) + [oracle(market)]


def evaluate(
    market: Market, strategies: list[Strategy], options: EvalOptions, progress=None
) -> tuple[dict, dict[str, StrategyResult]]:
    """The whole comparison as a JSON-ready report (NaN stays NaN; the writer makes it null) and the raw runs."""
    val = split_episodes(market, "val", options.episodes_min)
    test = split_episodes(market, "test", options.episodes_min)
    if len(test) < 2:
        raise ValueError(f"only {len(test)} test episode(s) of {options.episodes_min} min: use shorter --episodes-min")
    names = [s.name for s in strategies]
    reference = options.reference if options.reference in names else names[0]
    runs = {}
    for s in strategies:
        t0 = time.perf_counter()
        runs[s.name] = run_strategy(market, s, val, test, options)
        if progress:
            progress(f"{s.name}: {time.perf_counter() - t0:.1f} s")
    ref = runs[reference]
    report = {
        "options": asdict(options),
        "reference": reference,
        "datasets": [
            {"label": label, "symbol": ds.symbol, "venue": ds.venue, "tick": ds.tick, "rows": ds.n}
            for label, ds in zip(dataset_labels(market), market.datasets, strict=True)
        ],
        "episodes": {
            "val": len(val),
            "test": len(test),
            "minutes": options.episodes_min,
            "test_bounds": [asdict(ep) for ep in test],
        },
        "strategies": {},
    }
    for s in strategies:
        report["strategies"][s.name] = _strategy_report(market, s, runs[s.name], ref, test, options)
    return report, runs


def _strategy_report(
    market: Market, s: Strategy, run: StrategyResult, ref: StrategyResult, test: list[Episode], options: EvalOptions
) -> dict:
    epnl = np.array([m["epnl"] for m in run.metrics])
    mapv = np.array([m["map"] for m in run.metrics])
    symbols = dataset_labels(market)
    per_dataset = {
        symbols[i]: summarise([m for m, ep in zip(run.metrics, test, strict=True) if ep.dataset == i])
        for i in sorted({ep.dataset for ep in test})
    }
    out = {
        "latency_ms": run.latency_ms,
        "chosen": run.chosen,
        "validation_epnl": run.validation_epnl,
        "summary": summarise(run.metrics),
        "pnl_map_ci": list(ratio_of_means_interval(epnl, mapv, options.n_boot, options.seed)),
        "per_dataset": per_dataset,
        "episodes": run.metrics,
    }
    if run is not ref:
        out["vs_reference"] = {
            key: paired_bootstrap(
                np.array([m[key] for m in run.metrics]),
                np.array([m[key] for m in ref.metrics]),
                options.n_boot,
                options.seed,
            )
            for key in ("epnl", "nd_pnl")
        }
    if s.predictions is not None:
        spans = [market.table_rows(ep.dataset, ep.start, ep.stop) for ep in test]
        rows = np.concatenate([np.arange(sl.start, sl.stop) for sl in spans])
        rows = rows[s.active[rows]] if s.active is not None else rows
        out["forecast"] = forecast_errors(s.predictions[rows], market.table.Y[rows], TASKS)
    return out
