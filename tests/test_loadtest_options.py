"""Load options validate themselves; only loopback targets unless allowed."""

import math

import pytest

from loadtest.options import LoadOptions, RampOptions, parse_target


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:1/x", "http://[::1]:9", "http://127.9.9.9"])
def test_loopback_urls_are_accepted(url):
    target = parse_target(url)
    assert target.port in (8000, 1, 9, 80)


def test_target_parts():
    target = parse_target("http://127.0.0.1:8123/api/")
    assert (target.host, target.port, target.base_path, target.host_header) == (
        "127.0.0.1",
        8123,
        "/api",
        "127.0.0.1:8123",
    )
    assert parse_target("http://[::1]:9").host_header == "[::1]:9"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.5:8000", "not a loopback address"),
        ("http://example.com", "not a loopback address"),
        ("https://127.0.0.1", "only http://"),
        ("127.0.0.1:8000", "only http://"),
        ("http://127.0.0.1:99999", "bad port"),
        ("http://:80", "no host"),
    ],
)
def test_bad_or_remote_urls_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        LoadOptions(url=url, rate=10, duration_s=1)


def test_remote_needs_the_explicit_flag():
    assert LoadOptions(url="http://10.0.0.5:8000", rate=10, duration_s=1, allow_remote=True).target.host == "10.0.0.5"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rate", 0.0, "rate"),
        ("rate", math.nan, "rate"),
        ("duration_s", 0.0, "duration_s"),
        ("duration_s", 1e9, "duration_s"),
        ("connections", 0, "connections"),
        ("symbols", 0, "symbols"),
        ("arrival", "burst", "arrival"),
        ("max_requests", 0, "max_requests"),
        ("timeout_s", 0.0, "timeout_s"),
        ("warmup_s", -1.0, "warmup_s"),
    ],
)
def test_load_options_name_the_bad_field(field, value, message):
    kwargs = {"url": "http://127.0.0.1:1", "rate": 10.0, "duration_s": 1.0, field: value}
    with pytest.raises(ValueError, match=message):
        LoadOptions(**kwargs)


def test_ramp_rates_and_bounds():
    assert RampOptions(start=100, step=100, max_rate=450).rates() == [100, 200, 300, 400]
    assert RampOptions(start=100, step=50, max_rate=200).rates() == [100, 150, 200]
    with pytest.raises(ValueError, match="max_rate"):
        RampOptions(start=100, step=10, max_rate=50)
    with pytest.raises(ValueError, match="at most 100"):
        RampOptions(start=1, step=1, max_rate=1e6)
    with pytest.raises(ValueError, match="slo_ms"):
        RampOptions(start=1, step=1, max_rate=2, slo_ms=0)
