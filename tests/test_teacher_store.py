import json

import numpy as np
import pytest

from export.teacher_store import LayerPca, TeacherStore, load_store, read_meta, save_store
from tests.synthetic import synthetic_dataset


def states(seed: int = 0, n: int = 200, layers: int = 3, hidden: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, layers, hidden)) * np.linspace(5, 0.1, hidden)
    base[:, :, 0] *= 1000  # one "massive activation" unit
    return base.astype(np.float32)


def test_pca_components_are_orthonormal_and_ordered():
    pca = LayerPca.fit(states(), dims=6)
    for layer in range(3):
        np.testing.assert_allclose(pca.components[layer] @ pca.components[layer].T, np.eye(6), atol=1e-10)
        assert np.all(np.diff(pca.explained[layer]) <= 1e-12)
    z = pca.transform(states())
    assert z.shape == (200, 3, 6) and z.dtype == np.float32
    assert np.all(np.diff(z.var(axis=0), axis=1) <= 1e-3)


def test_pca_standardises_so_one_huge_unit_does_not_own_the_first_component():
    pca = LayerPca.fit(states(), dims=4)
    assert np.abs(pca.components[0, 0, 0]) < 0.9


def test_pca_dims_capped_by_rows_and_width():
    assert LayerPca.fit(states(n=5), dims=32).dims == 5
    with pytest.raises(ValueError, match="2 training rows"):
        LayerPca.fit(states(n=1), dims=4)


def test_round_trip(tmp_path):
    pca = LayerPca.fit(states(), dims=4)
    feats = pca.transform(states())
    rows = np.arange(200, dtype=np.int64) * 2
    save_store(tmp_path, feats, rows, pca, {"key": "k", "data": ["h"], "horizon": 20})
    store = load_store(tmp_path)
    np.testing.assert_array_equal(store.features, feats)
    np.testing.assert_array_equal(store.rows, rows)
    assert store.meta["rows"] == 200 and store.meta["n_layers"] == 3 and store.meta["pca_dims"] == 4
    again = LayerPca.load(tmp_path / "pca.npz")
    np.testing.assert_array_equal(again.transform(states()), feats)


def test_missing_and_inconsistent_stores_fail_clearly(tmp_path):
    assert read_meta(tmp_path) is None
    with pytest.raises(FileNotFoundError, match="no teacher feature store"):
        load_store(tmp_path)
    pca = LayerPca.fit(states(), dims=4)
    save_store(tmp_path, pca.transform(states()), np.arange(200), pca, {"key": "k"})
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps(meta | {"rows": 7}))
    with pytest.raises(ValueError, match="features.npy"):
        load_store(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_store(tmp_path)


def test_check_datasets_names_the_mismatch():
    from lob.dataset import content_hash

    a, b = synthetic_dataset(seed=1, n=50), synthetic_dataset(seed=2, n=50)
    store = TeacherStore(
        rows=np.arange(3), features=np.zeros((3, 2, 2), np.float32), meta={"data": [content_hash(a)], "horizon": 20}
    )
    store.check_datasets([a], horizon=20)
    with pytest.raises(ValueError, match="built on data"):
        store.check_datasets([b])
    with pytest.raises(ValueError, match="horizon"):
        store.check_datasets([a], horizon=10)
