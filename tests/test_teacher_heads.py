import numpy as np
import pytest

from export.ridge import r2_score
from export.teacher_heads import fit_teacher_heads, teacher_forecast
from export.teacher_store import TeacherStore
from lob.table import build_table
from lob.targets import SPLITS, TASKS
from tests.synthetic import synthetic_dataset


@pytest.fixture(scope="module")
def table():
    return build_table([synthetic_dataset(seed=6, n=1500)])


def store_with(table, layer_of_task: dict[int, int], layers: int = 5, dims: int = 4) -> TeacherStore:
    """Noise features, except that task t's target (plus noise) sits in layer layer_of_task[t]."""
    rng = np.random.default_rng(0)
    rows = np.flatnonzero(table.split >= 0)
    features = rng.normal(size=(len(rows), layers, dims)).astype(np.float32)
    for task, layer in layer_of_task.items():
        y = table.Y[rows, task]
        features[:, layer, task] = (y - y.mean()) / (y.std() + 1e-9) + 0.2 * rng.normal(size=len(rows))
    return TeacherStore(rows=rows, features=features, meta={})


def test_best_layer_per_task_is_where_its_signal_lives(table):
    heads = fit_teacher_heads(store_with(table, {0: 1, 1: 3, 2: 4}), table)
    assert heads.best_layer.tolist() == [1, 3, 4]
    assert heads.val_r2.shape == (5, len(TASKS))


def test_forecast_uses_the_best_layer_and_predicts_held_out_rows(table):
    store = store_with(table, {0: 2, 1: 2, 2: 2})
    forecast = teacher_forecast(store, table)
    assert forecast.shape == (len(store.rows), len(TASKS))
    test = table.split[store.rows] == SPLITS.index("test")
    assert np.all(r2_score(table.Y[store.rows[test]], forecast[test]) > 0.5)


def test_missing_validation_rows_and_bad_shapes_are_named(table):
    store = store_with(table, {0: 1})
    train_only = store.rows[table.split[store.rows] == 0]
    only = TeacherStore(rows=train_only, features=store.features[: len(train_only)], meta={})
    with pytest.raises(ValueError, match="val rows"):
        fit_teacher_heads(only, table)
    heads = fit_teacher_heads(store, table)
    with pytest.raises(ValueError, match="expected"):
        heads.predict(np.zeros((3, 2, 4), np.float32))
