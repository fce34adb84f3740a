"""`cmm teacher features`, `cmm teacher bench` and `cmm probe` end to end with a tiny local teacher."""

import json

import pytest

from cmm.cli import main
from lob.dataset import save
from tests.synthetic import synthetic_dataset
from tests.teacher_fixtures import tiny_teacher_dir


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "synthetic.npz"
    save(synthetic_dataset(seed=8, n=2400), path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(tiny_teacher_dir(tmp_path_factory.getbasetemp()))


def test_features_then_probe(data_file, tiny, tmp_path, capsys):
    store = tmp_path / "store"
    args = ["teacher", "features", "--data", str(data_file), "--out", str(store), "--teacher", tiny]
    assert main(args + ["--stride", "3", "--pca-dims", "8", "--device", "cpu"]) == 0
    meta = json.loads((store / "meta.json").read_text())
    assert meta["n_layers"] == 3 and meta["pca_dims"] == 8 and meta["stride"] == 3
    assert f"key {meta['key']}" in capsys.readouterr().out
    assert main(["probe", "--features", str(store), "--out", str(tmp_path / "probe")]) == 0
    probe = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert probe["layers"] == 3 and probe["features_key"] == meta["key"]
    assert (tmp_path / "probe" / "probe.png").exists()
    assert "layers" in capsys.readouterr().out


def test_bench_prints_both_rates(data_file, tiny, capsys):
    args = ["teacher", "bench", "--data", str(data_file), "--teacher", tiny, "--snapshots", "8", "--naive", "2"]
    assert main(args + ["--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("snapshots/s") == 2 and "speed-up" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["teacher", "features", "--data", "missing.npz", "--out", "x"], "missing.npz"),
        (["teacher", "bench", "--data", "missing.npz"], "missing.npz"),
        (["probe", "--features", "nowhere", "--out", "x"], "no teacher feature store"),
    ],
)
def test_errors_exit_2_with_a_clear_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_options_exit_2(data_file, tiny, tmp_path, capsys):
    argv = ["teacher", "features", "--data", str(data_file), "--out", str(tmp_path), "--teacher", tiny, "--stride", "0"]
    assert main(argv) == 2
    assert "stride must be >= 1" in capsys.readouterr().err
