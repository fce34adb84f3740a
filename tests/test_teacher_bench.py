import numpy as np
import pytest

from export.prompt import describe_rows
from export.teacher import load_teacher
from export.teacher_bench import bench
from lob.features import records
from tests.synthetic import synthetic_dataset
from tests.teacher_fixtures import tiny_teacher_dir


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return load_teacher(str(tiny_teacher_dir(tmp_path_factory.getbasetemp())), device="cpu")


def test_bench_times_both_paths_on_the_same_snapshots(teacher):
    bodies = describe_rows(records(synthetic_dataset(seed=7, n=200)), np.arange(60, 200, 10))
    result = bench(teacher, bodies, naive=4, batch=4)
    assert result.naive_snapshots == 4 and result.optimised_snapshots == len(bodies)
    assert result.naive_seconds > 0 and result.optimised_seconds > 0
    assert result.max_abs_diff < 1e-4 * max(result.max_abs_state, 1.0)
    assert result.prefix_tokens > result.mean_body_tokens > 50  # character tokens
    lines = result.report().splitlines()
    assert len(lines) == 4 and "snapshots/s" in lines[1] and "s/snapshot" in lines[2] and "speed-up" in lines[3]


def test_naive_count_is_checked(teacher):
    with pytest.raises(ValueError, match="naive snapshot count"):
        bench(teacher, ["spread 1"], naive=2, batch=1)
