import json

import numpy as np
import pytest

import export.teacher_features as tf
from export.teacher_features import FeatureOptions, build_features, prompt_bodies, select_rows
from export.teacher_store import load_store
from lob.table import NO_SPLIT, build_table
from lob.targets import SPLITS
from tests.synthetic import synthetic_dataset
from tests.teacher_fixtures import tiny_teacher_dir


@pytest.fixture(scope="module")
def datasets():
    return [synthetic_dataset(seed=1, n=700), synthetic_dataset(seed=2, n=600, symbol="OTHER")]


@pytest.fixture(scope="module")
def options(tmp_path_factory):
    tiny = tiny_teacher_dir(tmp_path_factory.getbasetemp())
    return FeatureOptions(teacher=str(tiny), stride=7, batch=8, pca_dims=8, device="cpu")


def test_select_rows_strides_over_every_split_and_limits_evenly(datasets):
    table = build_table(datasets)
    rows = select_rows(table, stride=7)
    assert np.all(table.split[rows] != NO_SPLIT)
    assert {int(s) for s in table.split[rows]} == {0, 1, 2}
    limited = select_rows(table, stride=7, limit=20)
    assert len(limited) == 20 and set(limited) <= set(rows)
    assert {int(s) for s in table.split[limited]} == {0, 1, 2}


def test_options_validate_themselves():
    with pytest.raises(ValueError, match="stride"):
        FeatureOptions(stride=0)
    with pytest.raises(ValueError, match="limit"):
        FeatureOptions(limit=1)


def test_prompt_bodies_follow_each_rows_own_dataset(datasets):
    table = build_table(datasets)
    rows = np.array([5, len(datasets[0].ts_ns) + 5])  # row 5 of each dataset
    first, second = prompt_bodies(datasets, table, rows)
    assert first != second  # different books at the same row index


def test_store_shapes_reuse_and_rebuild(datasets, options, tmp_path, monkeypatch):
    out = tmp_path / "store"
    meta = build_features(datasets, out, options, data_files=["a.npz"])
    store = load_store(out)
    table = build_table(datasets)
    assert store.features.shape == (meta["rows"], 3, 8) and store.features.dtype == np.float32
    np.testing.assert_array_equal(store.rows, select_rows(table, stride=7))
    assert store.meta["prompt_version"] == tf.PROMPT_VERSION and store.meta["data_files"][0].endswith("a.npz")
    assert meta["split_counts"]["train"] == int(np.sum(table.split[store.rows] == SPLITS.index("train")))
    train = store.features[table.split[store.rows] == 0]
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-4)  # PCA centred on training rows

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher was loaded although the store matched")

    with monkeypatch.context() as m:  # same key: reused without touching the teacher
        m.setattr(tf, "load_teacher", no_teacher)
        assert build_features(datasets, out, options)["key"] == meta["key"]

    monkeypatch.setattr(tf, "PROMPT_VERSION", "changed-for-test")  # new prompt version: rebuilt
    rebuilt = build_features(datasets, out, options)
    assert rebuilt["key"] != meta["key"]
    assert json.loads((out / "meta.json").read_text())["prompt_version"] == "changed-for-test"
    np.testing.assert_array_equal(load_store(out).features, store.features)  # same model, same prompts


def test_features_are_deterministic(datasets, options, tmp_path):
    a = build_features(datasets, tmp_path / "a", options)
    b = build_features(datasets, tmp_path / "b", options)
    assert a["key"] == b["key"]
    np.testing.assert_array_equal(load_store(tmp_path / "a").features, load_store(tmp_path / "b").features)


def test_a_different_teacher_changes_the_key(datasets, options, tmp_path_factory):
    table = build_table(datasets)
    rows = select_rows(table, stride=7)
    other = tiny_teacher_dir(tmp_path_factory.getbasetemp(), seed=1)
    from export.teacher import teacher_identity

    a = tf.store_meta(datasets, rows, options, teacher_identity(options.teacher))
    b = tf.store_meta(datasets, rows, options, teacher_identity(str(other)))
    assert a["key"] != b["key"]
