import numpy as np
import pytest

from export.prompt import describe_rows, template_for
from export.teacher import load_teacher
from export.teacher_states import body_ids, naive_states, prefix_states
from lob.features import records
from tests.synthetic import synthetic_dataset
from tests.teacher_fixtures import tiny_teacher_dir


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return load_teacher(str(tiny_teacher_dir(tmp_path_factory.getbasetemp())), device="cpu")


@pytest.fixture(scope="module")
def bodies():
    rec = records(synthetic_dataset(seed=3, n=200))
    return describe_rows(rec, np.array([0, 7, 60, 61, 120, 199]))


def test_shapes_and_dtype(teacher, bodies):
    states = prefix_states(teacher, template_for(teacher.tokenizer), bodies, batch=4)
    assert states.shape == (len(bodies), teacher.n_layers, teacher.hidden_size) == (6, 3, 32)
    assert states.dtype == np.float32
    assert np.isfinite(states).all()


def test_bodies_differ_in_length_so_padding_is_exercised(teacher, bodies):
    lengths = {len(ids) for ids in body_ids(teacher, template_for(teacher.tokenizer), bodies)}
    assert len(lengths) > 1


def test_prefix_cache_path_equals_naive_forward(teacher, bodies):
    template = template_for(teacher.tokenizer)
    fast = prefix_states(teacher, template, bodies, batch=4)
    slow = naive_states(teacher, template, bodies)
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-5)


def test_deterministic_and_independent_of_batch_size(teacher, bodies):
    template = template_for(teacher.tokenizer)
    one = prefix_states(teacher, template, bodies, batch=1)
    np.testing.assert_array_equal(prefix_states(teacher, template, bodies, batch=1), one)
    np.testing.assert_allclose(prefix_states(teacher, template, bodies, batch=5), one, rtol=1e-4, atol=1e-5)


def test_progress_counts_every_snapshot(teacher, bodies):
    seen = []
    prefix_states(teacher, template_for(teacher.tokenizer), bodies, batch=4, progress=seen.append)
    assert seen == [4, 2]


def test_bad_batch_is_rejected(teacher, bodies):
    with pytest.raises(ValueError, match="batch"):
        prefix_states(teacher, template_for(teacher.tokenizer), bodies, batch=0)
