import numpy as np
import pytest

from export.prompt import MOVES, PROMPT_VERSION, SPAN, describe, describe_rows, render, template_for
from lob.features import records
from tests.synthetic import synthetic_dataset
from tests.teacher_fixtures import CHAT_TEMPLATE, tiny_tokenizer


def window(levels: int = 10, n: int = SPAN + 1) -> np.ndarray:
    """A hand-made window: best bid 100, ask 101, mid up 1 tick per 10 rows, small trades."""
    rows = []
    for t in range(n):
        bid = 100 + t // 10
        bid_px = [bid - i for i in range(levels)]
        ask_px = [bid + 1 + i for i in range(levels)]
        rows.append(bid_px + ask_px + [0.256] * levels + [1.84] * levels + [0.5, 0.0])
    return np.array(rows, np.float64)


def test_body_shows_ticks_from_mid_sizes_moves_and_flow():
    text = describe(window())
    assert text.splitlines() == [
        "spread 1",
        "bid -0.5:0.26 -1.5:0.26 -2.5:0.26",
        "ask +0.5:1.8 +1.5:1.8 +2.5:1.8",
        "moves " + " ".join(["+1"] * MOVES),
        "bought 25 sold 0",
    ]


def test_absent_levels_are_left_out_and_short_windows_work():
    w = window(n=3)
    w[-1, 10 * 2 + 1 : 10 * 3] = 0.0  # bid levels 1.. empty
    lines = describe(w).splitlines()
    assert lines[1] == "bid -0.5:0.26"
    assert lines[3] == "moves " + " ".join(["0"] * MOVES)


def test_only_the_past_window_matters():
    rec = records(synthetic_dataset(seed=4, n=300))
    changed = rec.copy()
    changed[151:] += 7.0
    assert describe_rows(rec, np.array([150])) == describe_rows(changed, np.array([150]))
    assert describe_rows(rec, np.array([150])) == [describe(rec[150 - SPAN : 151])]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="records window"):
        describe(np.zeros((5, 7)))
    with pytest.raises(ValueError, match="rows out of range"):
        describe_rows(window(), np.array([SPAN + 1]))


def test_chat_template_wraps_the_body_and_plain_text_without_one():
    chat = template_for(tiny_tokenizer(CHAT_TEMPLATE))
    assert chat.prefix.startswith("<system>") and chat.prefix.endswith("\n")
    assert chat.tail == "</user>\n<assistant>"
    plain = template_for(tiny_tokenizer())
    prompt = render(window(), plain)
    assert prompt.startswith(plain.prefix) and prompt.endswith(plain.tail)
    assert describe(window()) in prompt


def test_version_names_the_rendering():
    assert PROMPT_VERSION and " " not in PROMPT_VERSION
