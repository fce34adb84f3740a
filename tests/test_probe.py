import json

import numpy as np
import pytest

from export.probe import ProbeOptions, best_group, normalise, run_probe, write_probe
from export.teacher_store import TeacherStore
from lob.table import build_table
from lob.targets import REGIMES, TASKS
from tests.synthetic import synthetic_dataset

PLANTED = 4


@pytest.fixture(scope="module")
def table():
    return build_table([synthetic_dataset(seed=5, n=3000)])


def planted_store(table, layers: int = 7, dims: int = 6, seed: int = 0) -> TeacherStore:
    """Noise in every layer, except that layer PLANTED holds the (noisy) targets themselves."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(table.split >= 0)
    features = rng.normal(size=(len(rows), layers, dims)).astype(np.float32)
    y = table.Y[rows]
    features[:, PLANTED, : len(TASKS)] = (y - y.mean(0)) / y.std(0) + 0.3 * rng.normal(size=y.shape)
    features[:, PLANTED - 1, : len(TASKS)] = (y - y.mean(0)) / y.std(0) + 3.0 * rng.normal(size=y.shape)
    return TeacherStore(rows=rows, features=features, meta={"teacher": "planted", "prompt_version": "t", "key": "k"})


def test_planted_layer_ranks_first_for_every_task_and_regime(table):
    result = run_probe(planted_store(table), table)
    assert result.score.shape == (7, len(TASKS), len(REGIMES))
    assert np.all(np.argmax(result.score, axis=0) == PLANTED)
    np.testing.assert_allclose(result.score.max(axis=0), 1.0)
    np.testing.assert_allclose(result.score.min(axis=0), 0.0)
    assert np.all(result.r2[PLANTED] > result.background_r2)
    for lo, hi in result.groups.reshape(-1, 2):
        assert lo <= PLANTED <= hi and hi - lo <= 1


def test_json_follows_the_contract(table, tmp_path):
    result = run_probe(planted_store(table), table)
    path = write_probe(result, tmp_path, {"teacher": "planted", "prompt_version": "t", "key": "k"})
    doc = json.loads(path.read_text())
    assert doc["layers"] == 7 and doc["tasks"] == list(TASKS) and doc["regimes"] == list(REGIMES)
    assert len(doc["score"]["spread"]["volatile"]) == 7
    assert {"r2", "background_r2", "decomposition"} <= set(doc)
    assert len(doc["decomposition"]) == len(TASKS) * len(REGIMES)
    assert doc["decomposition"][0] == {"task": TASKS[0], "regime": REGIMES[0], "layers": [PLANTED, PLANTED]}
    assert (tmp_path / "probe.png").stat().st_size > 10_000


def test_normalise_and_groups():
    raw = np.array([[0.1, 0.5], [0.3, 0.5], [0.2, 0.5]])
    np.testing.assert_allclose(normalise(raw), [[0.0, 1.0], [1.0, 1.0], [0.5, 1.0]])
    assert best_group(np.array([0.1, 0.85, 1.0, 0.9, 0.2, 0.95]), 0.8) == (1, 3)
    assert best_group(np.ones(4), 0.8) == (0, 3)


def test_too_few_rows_per_regime_is_named(table):
    store = planted_store(table)
    few = TeacherStore(rows=store.rows[::200], features=store.features[::200], meta=store.meta)
    with pytest.raises(ValueError, match="regime .*: .* train and .* val rows"):
        run_probe(few, table)
    with pytest.raises(ValueError, match="threshold"):
        ProbeOptions(threshold=0)
