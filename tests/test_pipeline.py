"""`cmm pipeline --quick` once (teacher store reused from runs/ when its key matches), then its bundle."""

import hashlib
import json

import numpy as np
import onnxruntime as ort
import pytest

from cmm.cli import main
from export.pipeline import ROOT
from lob.dataset import save
from tests.distill_fixtures import synthetic_dataset

ARCHITECTURE_FIELDS = (
    "name",
    "version",
    "created",
    "git_commit",
    "command",
    "graph",
    "features",
    "horizon",
    "grid_ms",
    "instruments",
    "regimes",
    "teacher",
    "data",
    "students",
    "gate",
    "evaluation",
    "build_seconds",
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "pytest_quick"
    assert main(["pipeline", "--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "manifest.json").read_text())


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_hashes_match_the_graphs(bundle):
    out, manifest = bundle
    assert sha256(out / manifest["graph"]["file"]) == manifest["graph"]["sha256"]
    for baseline in manifest["baselines"].values():
        assert sha256(out / baseline["file"]) == baseline["sha256"]


def test_manifest_has_every_contract_field(bundle):
    out, manifest = bundle
    missing = [f for f in ARCHITECTURE_FIELDS if f not in manifest]
    assert not missing
    assert manifest["instruments"]["BTCUSD"] == {"tick": 1.0, "venue": "bitstamp"}
    assert manifest["features"]["levels"] == 10 and len(manifest["features"]["names"]) == 56
    assert len(manifest["regimes"]["edges"]) == 2 and manifest["regimes"]["feature"] == "realized_vol"
    assert manifest["teacher"]["name"] == "smollm2" and manifest["teacher"]["prompt_version"]
    assert all(s["params"] <= 100_000 for s in manifest["students"])
    assert sum(s["params"] for s in manifest["students"]) <= 500_000
    assert manifest["evaluation"]["teacher_timing"]["seconds_per_snapshot"] > 0
    assert sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) <= 5 * 2**20


def test_bundle_graphs_serve_raw_features(bundle):
    out, manifest = bundle
    x = np.random.default_rng(0).normal(0, 1, (4, len(manifest["features"]["names"]))).astype(np.float32)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    mid, spread, volume, gate = session.run(None, {"features": x})
    assert mid.shape == spread.shape == volume.shape == (4,)
    assert gate.shape == (4, len(manifest["students"])) and np.isfinite(gate).all()
    for baseline in manifest["baselines"].values():
        outs = ort.InferenceSession(str(out / baseline["file"]), providers=["CPUExecutionProvider"]).run(
            None, {"features": x}
        )
        assert [o.shape for o in outs] == [(4,)] * 3


def test_report_has_the_table_and_timings(bundle):
    out, manifest = bundle
    report = (out / "report.md").read_text()
    for row in (
        "CMM (Hájek-MoE gate)",
        "ablation: uniform mean",
        "ablation: learned softmax gate",
        "label-only student",
        "single distilled student",
        "teacher (ridge heads on LM features)",
        "ONNX Runtime, batch 1",
    ):
        assert row in report, row
    assert (out / "training_curves.png").stat().st_size > 1000
    lat = manifest["evaluation"]["ort_latency_us"]["cmm"]
    assert 0 < lat["p50_us"] <= lat["p99_us"]


def test_export_of_a_missing_run_is_a_clean_error(tmp_path, capsys):
    assert main(["export", "--run", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")]) == 2
    assert "checkpoint.pt: missing" in capsys.readouterr().err


def test_distill_refuses_data_the_store_was_not_built_on(bundle, tmp_path, capsys):
    _, manifest = bundle
    other = tmp_path / "other.npz"
    save(synthetic_dataset(600), other)
    store = ROOT / "runs" / "bitstamp_teacher_s1_l120"
    argv = [
        "distill",
        "--data",
        str(other),
        "--features",
        str(store),
        "--probe",
        str(ROOT / "runs" / "probe_bitstamp_teacher_s1_l120" / "probe.json"),
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    assert "pass those datasets first" in capsys.readouterr().err


def test_instruments_keep_every_venue_tick():
    from export.bundle import instrument_map

    datasets = [
        {"symbol": "BTCUSDT", "tick": 0.01, "venue": "binance-spot"},
        {"symbol": "BTCUSDT", "tick": 0.1, "venue": "binance-usdm"},
        {"symbol": "ETHUSDT", "tick": 0.01, "venue": "binance-spot"},
        {"symbol": "ETHUSDT", "tick": 0.01, "venue": "binance-usdm"},
    ]
    assert instrument_map(datasets) == {
        "binance-spot:BTCUSDT": {"tick": 0.01, "venue": "binance-spot"},
        "binance-usdm:BTCUSDT": {"tick": 0.1, "venue": "binance-usdm"},
        "ETHUSDT": {"tick": 0.01, "venue": "binance-usdm"},
    }
