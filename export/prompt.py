"""The teacher's prompt: a compact text rendering of the order-book window under a fixed instruction.

The text is a function of the records window only (`lob.features.records`, the last <= SPAN + 1 rows
ending at the snapshot). Prices are offsets from the mid in ticks, sizes are rounded to two significant digits,
and the recent mid moves and traded volume summarise the window. SmolLM2's tokenizer splits digits one by
one, so the body is kept to about 60-100 tokens; the fixed part (system line + instruction) is a prefix
whose KV cache the feature extractor computes once.

Any change to the text below must bump PROMPT_VERSION: it is part of every feature-store key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedTokenizerBase

PROMPT_VERSION = "book3-moves5-v1"
SHOWN_LEVELS = 3  # book levels per side in the text
MOVE_STEPS = 10  # snapshots per mid move (1 s at the 100 ms grid)
MOVES = 5  # mid moves shown, oldest first
SPAN = MOVES * MOVE_STEPS  # steps the prompt looks back: its window is the last SPAN + 1 records

SYSTEM = "You are a market maker on a crypto exchange."
INSTRUCTION = (
    "Below is the limit order book now. bid and ask: price offset from the mid in ticks, then size. "
    "moves: the mid-price changes in ticks over each of the last five seconds, oldest first. "
    "bought and sold: the volume traded by aggressive buyers and sellers in the last five seconds. "
    "Predict the mid-price change in ticks, the spread in ticks and the traded volume over the next few seconds."
)
_MARK = "\x00BOOK\x00"


@dataclass(frozen=True)
class PromptTemplate:
    """The fixed text around each snapshot: `prefix` + body + `tail`."""

    prefix: str
    tail: str


def template_for(tokenizer: PreTrainedTokenizerBase) -> PromptTemplate:
    """The chat template of an instruction-tuned teacher, or plain text for a base model."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{INSTRUCTION}\n{_MARK}"}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prefix, tail = text.split(_MARK)
        return PromptTemplate(prefix=prefix, tail=tail)
    return PromptTemplate(prefix=f"{SYSTEM}\n{INSTRUCTION}\n", tail="\nForecast:")


def _size(x: float) -> str:
    """Two significant digits, at most two decimals (tokens are digits: every one costs)."""
    x = float(np.format_float_positional(x, precision=2, unique=False, fractional=False, trim="-"))
    return np.format_float_positional(round(x, 2), trim="-")


def _ticks(x: float) -> str:
    return f"{x:+g}"


def describe(window: np.ndarray) -> str:
    """The body for the newest row of `window` (records, oldest first; the last SPAN + 1 rows are used)."""
    window = np.asarray(window, np.float64)[-(SPAN + 1) :]
    if window.ndim != 2 or len(window) == 0 or (window.shape[1] - 2) % 4:
        raise ValueError(f"records window has shape {window.shape}, expected (k >= 1, 4L+2)")
    levels = (window.shape[1] - 2) // 4
    shown = min(SHOWN_LEVELS, levels)
    last = window[-1]
    bid_px, ask_px = last[:levels], last[levels : 2 * levels]
    bid_sz, ask_sz = last[2 * levels : 3 * levels], last[3 * levels : 4 * levels]
    mid = (bid_px[0] + ask_px[0]) / 2.0
    bids = " ".join(
        f"{_ticks(p - mid)}:{_size(s)}" for p, s in zip(bid_px[:shown], bid_sz[:shown], strict=True) if s > 0
    )
    asks = " ".join(
        f"{_ticks(p - mid)}:{_size(s)}" for p, s in zip(ask_px[:shown], ask_sz[:shown], strict=True) if s > 0
    )
    mids = (window[:, 0] + window[:, levels]) / 2.0
    at = np.maximum(len(mids) - 1 - MOVE_STEPS * np.arange(MOVES, -1, -1), 0)  # MOVES+1 points, oldest first
    moves = " ".join(f"{d:+g}" if d else "0" for d in np.diff(mids[at]))
    buy, sell = window[-SPAN:, -2].sum(), window[-SPAN:, -1].sum()  # the steps ending in the last SPAN
    return (
        f"spread {ask_px[0] - bid_px[0]:g}\nbid {bids}\nask {asks}\n"
        f"moves {moves}\nbought {_size(buy)} sold {_size(sell)}"
    )


def describe_rows(rec: np.ndarray, rows: np.ndarray) -> list[str]:
    """Bodies for the given rows of one dataset's records, each from its own past window."""
    rows = np.asarray(rows, np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(rec)):
        raise ValueError(f"rows out of range 0..{len(rec) - 1}")
    return [describe(rec[max(r - SPAN, 0) : r + 1]) for r in rows]


def render(window: np.ndarray, template: PromptTemplate) -> str:
    """The whole prompt text for one snapshot (what the naive path feeds the model)."""
    return template.prefix + describe(window) + template.tail
