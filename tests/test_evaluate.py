import json
import shutil

import numpy as np
import pytest

from cmm.cli import main
from export.evaluate import EvalOptions, evaluate, model_predictions, split_episodes
from export.evaluate_report import table
from lob.binance import read_binance
from lob.dataset import BUY, SELL, TRADE_DTYPE, Dataset, save
from lob.strategies import Market, classic_strategies, fixed_spread, glft
from lob.table import build_table
from tests.conftest import require_binance
from tests.tiny_bundle import write_tiny_bundle

T0 = 1_700_000_000_000_000_000
GRID = 100_000_000


def busy_book(seed: int, n: int = 1800, levels: int = 10) -> Dataset:
    """A random-walk book with trades at and through the touch: enough fills for every strategy."""
    rng = np.random.default_rng(seed)
    bid = 50_000 + np.cumsum(rng.integers(-1, 2, n) * (rng.random(n) < 0.3))
    ask = bid + rng.integers(1, 3, n)
    m = 3 * n
    tr = np.zeros(m, TRADE_DTYPE)
    tr["ts_ns"] = np.sort(rng.integers(T0 + 1, T0 + (n - 1) * GRID, m))
    before = np.searchsorted(T0 + np.arange(n) * GRID, tr["ts_ns"]) - 1
    tr["side"] = np.where(rng.random(m) < 0.5, BUY, SELL)
    touch = np.where(tr["side"] == BUY, ask[before], bid[before])
    tr["px"] = touch + tr["side"] * rng.integers(0, 3, m)
    tr["sz"] = rng.exponential(0.4, m)
    return Dataset(
        symbol=f"SYN{seed}",
        venue="test",
        tick=0.1,
        grid_ns=GRID,
        ts_ns=T0 + np.arange(n, dtype=np.int64) * GRID,
        bid_px=bid[:, None] - np.arange(levels),
        bid_sz=rng.exponential(0.5, (n, levels)) + 0.01,
        ask_px=ask[:, None] + np.arange(levels),
        ask_sz=rng.exponential(0.5, (n, levels)) + 0.01,
        trades=tr,
    ).validate()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    d = write_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")
    other = write_tiny_bundle(tmp_path_factory.mktemp("other") / "tiny", seed=1)
    (d / "baselines").mkdir()
    shutil.copy(other / "model.onnx", d / "baselines" / "label_only.onnx")
    return d


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    paths = [d / "a.npz", d / "b.npz"]
    for i, p in enumerate(paths):
        save(busy_book(i), p)
    return paths


def test_model_predictions_run_every_graph_of_the_bundle(bundle):
    X = np.random.default_rng(0).normal(0, 3, (300, 56)).astype(np.float32)
    preds = model_predictions(bundle, X)
    assert set(preds) == {"cmm", "label_only"}  # no single_distilled graph in this bundle
    pred, ms = preds["cmm"]
    assert pred.shape == (300, 3) and np.isfinite(pred).all() and 0 < ms < 50
    assert not np.allclose(pred, preds["label_only"][0])


def test_cli_writes_table_json_and_plots(bundle, data_files, tmp_path, capsys):
    teacher = tmp_path / "teacher.npz"
    rows = np.arange(0, 3600, 3)
    np.savez(
        teacher,
        rows=rows,
        predictions=np.column_stack([np.zeros(len(rows)), np.ones(len(rows)), np.full(len(rows), 1.0)]),
    )
    out = tmp_path / "report.json"
    code = main(
        [
            "evaluate",
            "--bundle",
            str(bundle),
            "--data",
            *map(str, data_files),
            "--episodes-min",
            "0.1",
            "--latency-ms",
            "5",
            "--teacher",
            str(teacher),
            "--json",
            str(out),
            "--plots",
            str(tmp_path / "p"),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads(out.read_text())
    names = ["cmm", "label_only", "teacher", "join_touch", "fixed_spread", "microprice", "avellaneda_stoikov", "glft"]
    names.append("oracle")
    assert list(report["strategies"]) == names
    for name in names:
        assert name in printed
        s = report["strategies"][name]
        assert s["summary"]["episodes"] == report["episodes"]["test"] >= 4
        assert set(s["chosen"]) == {"test:SYN0", "test:SYN1"}
        for ep in s["episodes"]:
            assert ep["spread_pnl"] + ep["inventory_pnl"] - ep["fees"] == pytest.approx(ep["epnl"], abs=1e-9)
        if name != "cmm":
            assert set(s["vs_reference"]) == {"epnl", "nd_pnl"}
    assert report["strategies"]["cmm"]["latency_ms"] > 5.0  # inference time added
    assert report["strategies"]["teacher"]["forecast"]["forecast_rows"] > 0
    assert report["strategies"]["oracle"]["forecast"]["mid_change_mae"] == 0.0
    assert (tmp_path / "p" / "equity_inventory.png").stat().st_size > 10_000
    assert (tmp_path / "p" / "pnl_map.png").stat().st_size > 5_000


def test_cli_errors_are_clean(bundle, data_files, tmp_path, capsys):
    assert main(["evaluate", "--bundle", str(tmp_path), "--data", str(data_files[0])]) == 2
    assert "manifest" in capsys.readouterr().err
    assert main(["evaluate", "--bundle", str(bundle), "--data", str(tmp_path / "none.npz")]) == 2
    assert "none.npz" in capsys.readouterr().err
    assert main(["evaluate", "--bundle", str(bundle), "--data", str(data_files[0]), "--episodes-min", "30"]) == 2
    assert "episode" in capsys.readouterr().err
    assert main(["evaluate", "--bundle", str(bundle), "--data", str(data_files[0]), "--latency-ms", "-1"]) == 2
    assert "latency_ms" in capsys.readouterr().err


def test_tuning_never_reads_the_test_period(data_files):
    from lob.dataset import load

    ds = load(data_files[0])
    market = Market([ds], build_table([ds], 20))
    val = split_episodes(market, "val", 0.1)
    test = split_episodes(market, "test", 0.1)
    assert max(ep.stop for ep in val) <= min(ep.start for ep in test)
    # scrambling the test period's trades leaves every chosen setting unchanged
    cut = ds.ts_ns[test[0].start]
    tr = ds.trades.copy()
    late = tr["ts_ns"] > cut
    tr["side"][late] = -tr["side"][late]
    scrambled = Dataset(**{**ds.__dict__, "trades": tr})
    opts = EvalOptions(episodes_min=0.1)
    a, _ = evaluate(market, classic_strategies(market), opts)
    m2 = Market([scrambled], build_table([scrambled], 20))
    b, _ = evaluate(m2, classic_strategies(m2), opts)
    for name in a["strategies"]:
        assert a["strategies"][name]["chosen"] == b["strategies"][name]["chosen"]


def test_real_binance_capture_end_to_end():
    ds = read_binance([require_binance("usdm_ethusdt_20240808.gz")])
    market = Market([ds], build_table([ds], 20))
    strategies = [fixed_spread(market), glft(market)]
    report, runs = evaluate(market, strategies, EvalOptions(episodes_min=0.2, reference="glft"))
    assert report["episodes"]["test"] >= 3
    assert "glft" in table(report)
    for run in runs.values():
        for res in run.results:
            assert np.abs(res.inventory).max() <= 1.0 + 1e-9
            assert res.spread_pnl + res.inventory_pnl - res.fees == pytest.approx(res.epnl, abs=1e-6)
    assert sum(len(r.fills) for r in runs["fixed_spread"].results) > 0


def test_teacher_store_directory_gives_forecasts_on_its_rows(data_files, tmp_path):
    pytest.importorskip("export.teacher_heads")
    from export.evaluate_cli import _teacher
    from export.teacher_heads import teacher_forecast
    from export.teacher_store import LayerPca, load_store, save_store
    from lob.dataset import content_hash, load

    datasets = [load(p) for p in data_files]
    market = Market(datasets, build_table(datasets, 20))
    rows = np.flatnonzero(market.table.split >= 0)[::4]
    states = np.random.default_rng(0).normal(0, 1, (len(rows), 3, 16)).astype(np.float32)
    pca = LayerPca.fit(states, 4)
    meta = {"data": [content_hash(ds) for ds in datasets], "horizon": 20}
    save_store(tmp_path / "store", pca.transform(states), rows, pca, meta)
    pred, active = _teacher(tmp_path / "store", datasets, market, 20, max_age=0)
    assert active.sum() == len(rows) and active[rows].all()
    expected = teacher_forecast(load_store(tmp_path / "store"), market.table)
    np.testing.assert_allclose(pred[rows], expected)
    with pytest.raises(ValueError, match="horizon"):
        _teacher(tmp_path / "store", datasets, market, 40, max_age=0)
