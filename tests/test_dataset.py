from dataclasses import replace

import numpy as np
import pytest

from lob.dataset import content_hash, load, pad_levels, save
from lob.table import NO_SPLIT, build_table
from tests.synthetic import synthetic_dataset


def test_save_load_round_trip(tmp_path):
    ds = synthetic_dataset(0)
    save(ds, tmp_path / "d.npz")
    back = load(tmp_path / "d.npz")
    assert content_hash(back) == content_hash(ds)
    assert (back.symbol, back.tick, back.levels) == ("TEST", 0.01, 10)


def test_save_refuses_a_crossed_book_and_writes_nothing(tmp_path):
    ds = synthetic_dataset(0)
    bad = replace(ds, bid_px=ds.bid_px.copy())
    bad.bid_px[7, 0] = bad.ask_px[7, 0]
    with pytest.raises(ValueError, match="crossed or locked book .* at snapshot 7"):
        save(bad, tmp_path / "d.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_names_a_bad_file(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="x.npz: not a canonical dataset"):
        load(tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="cmm data prepare"):
        load(tmp_path / "missing.npz")


def test_pad_levels_keeps_prices_monotone():
    px, sz = pad_levels(np.array([100, 98]), np.array([1.0, 2.0]), 4, side=1)
    assert px.tolist() == [100, 98, 97, 96] and sz.tolist() == [1.0, 2.0, 0.0, 0.0]
    px, _ = pad_levels(np.array([101]), np.array([1.0]), 3, side=-1)
    assert px.tolist() == [101, 102, 103]


def test_table_stacks_datasets_with_per_dataset_splits():
    a, b = synthetic_dataset(0, n=300), synthetic_dataset(1, n=200, symbol="OTHER")
    table = build_table([a, b], horizon=10)
    assert table.X.shape == (500, len(table.feature_names))
    for i in range(2):
        split = table.split[table.dataset_id == i]
        labelled = split[split != NO_SPLIT]
        assert (np.diff(labelled) >= 0).all()  # train, then val, then test, in time order
        assert (split[-10:] == NO_SPLIT).all()  # no target past the end
    train_regimes = table.regime[table.rows("train")]
    assert set(np.unique(train_regimes)) <= {0, 1, 2}
