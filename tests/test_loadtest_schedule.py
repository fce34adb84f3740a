"""The open-loop schedule: fixed before the run, capped, strictly ordered."""

import numpy as np
import pytest

from loadtest.schedule import HEALTH, QUOTE, arrivals, build_schedule


def test_constant_rate_is_evenly_spaced():
    s = build_schedule(rate=500, duration_s=2.0, max_requests=10_000)
    assert len(s) == 1000
    assert np.all(np.diff(s.offset_ns) == 2_000_000)
    assert s.offset_ns[0] == 0 and np.all(s.kind == QUOTE)


def test_poisson_has_the_rate_on_average_and_increases_strictly():
    s = build_schedule(rate=2000, duration_s=5.0, max_requests=100_000, arrival="poisson", seed=3)
    assert len(s) == pytest.approx(10_000, rel=0.05)
    gaps = np.diff(s.offset_ns)
    assert gaps.min() > 0
    assert np.std(gaps) == pytest.approx(np.mean(gaps), rel=0.1)  # exponential: sd = mean
    assert s.offset_ns[-1] < 5e9


def test_poisson_is_reproducible_by_seed():
    a = build_schedule(100, 1.0, 1000, "poisson", seed=1).offset_ns
    b = build_schedule(100, 1.0, 1000, "poisson", seed=1).offset_ns
    c = build_schedule(100, 1.0, 1000, "poisson", seed=2).offset_ns
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_floor_interleaves_health_checks_half_an_interval_apart():
    s = build_schedule(rate=100, duration_s=1.0, max_requests=10_000, floor=True)
    assert (s.kind == QUOTE).sum() == (s.kind == HEALTH).sum() == 100
    assert np.all(s.kind[0::2] == QUOTE) and np.all(s.kind[1::2] == HEALTH)
    assert np.all(np.diff(s.offset_ns) == 5_000_000)


@pytest.mark.parametrize("arrival", ["constant", "poisson"])
def test_max_requests_caps_the_run(arrival):
    assert len(build_schedule(1000, 10.0, 123, arrival)) == 123
    s = build_schedule(1000, 10.0, 124, arrival, floor=True)
    assert len(s) == 124 and (s.kind == QUOTE).sum() == 62


def test_unknown_arrival_is_refused():
    with pytest.raises(ValueError, match="arrival"):
        arrivals(10, 1.0, 10, "burst", np.random.default_rng())
