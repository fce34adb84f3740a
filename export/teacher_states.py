"""Last-token hidden states of every teacher layer, two ways: naive and optimised.

- `naive_states`: one full forward per snapshot (instruction + body, LM head included): the reference.
- `prefix_states`: the fixed instruction prefix runs once and its KV cache is reused; bodies run in
  batches sorted by length, right-padded (causal attention: a real token never sees the padding after
  it, so the last real token's state is exact), through the base model only (no LM head).
Both return float32 (R, n_layers, hidden) with layer 0 the embeddings.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable

import numpy as np
import torch

from export.prompt import PromptTemplate
from export.teacher import Teacher


def _encode(teacher: Teacher, text: str) -> list[int]:
    return teacher.tokenizer(text, add_special_tokens=False)["input_ids"]


def body_ids(teacher: Teacher, template: PromptTemplate, bodies: list[str]) -> list[list[int]]:
    """Token ids of each body with the template's tail (the part that varies per snapshot)."""
    return [_encode(teacher, body + template.tail) for body in bodies]


def _last_token(hidden_states: tuple[torch.Tensor, ...], last: torch.Tensor) -> np.ndarray:
    rows = torch.arange(len(last), device=last.device)
    return torch.stack([h[rows, last] for h in hidden_states], dim=1).float().cpu().numpy()  # (B, L, H)


def naive_states(teacher: Teacher, template: PromptTemplate, bodies: list[str]) -> np.ndarray:
    """One forward of the full causal LM per snapshot (what a first attempt would do)."""
    prefix = _encode(teacher, template.prefix)
    out = np.empty((len(bodies), teacher.n_layers, teacher.hidden_size), np.float32)
    with torch.inference_mode():
        for i, ids in enumerate(body_ids(teacher, template, bodies)):
            tokens = torch.tensor([prefix + ids], device=teacher.device)
            result = teacher.model(input_ids=tokens, output_hidden_states=True)
            out[i] = _last_token(result.hidden_states, torch.tensor([tokens.shape[1] - 1], device=teacher.device))[0]
    return out


def _cache_argument(base: torch.nn.Module) -> str:
    """transformers 5 names the KV-cache argument `cache`; 4.x names it `past_key_values`."""
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def prefix_states(
    teacher: Teacher,
    template: PromptTemplate,
    bodies: list[str],
    batch: int = 16,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The optimised path: prefix KV cache computed once, length-sorted batches, no LM head."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    dev, base = teacher.device, teacher.base
    cache_arg = _cache_argument(base)
    pad = teacher.tokenizer.pad_token_id or 0
    ids = body_ids(teacher, template, bodies)
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.empty((len(bodies), teacher.n_layers, teacher.hidden_size), np.float32)
    with torch.inference_mode():
        first = base(input_ids=torch.tensor([_encode(teacher, template.prefix)], device=dev), use_cache=True)
        prefix_cache = getattr(first, cache_arg, None) or first.past_key_values
        n_prefix = prefix_cache.get_seq_length()
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            lengths = torch.tensor([len(ids[i]) for i in chunk])
            width = int(lengths.max())
            tokens = torch.full((len(chunk), width), pad, dtype=torch.long)
            for row, i in enumerate(chunk):
                tokens[row, : len(ids[i])] = torch.tensor(ids[i])
            tokens, lengths = tokens.to(dev), lengths.to(dev)
            body_mask = (torch.arange(width, device=dev)[None] < lengths[:, None]).long()
            mask = torch.cat([torch.ones(len(chunk), n_prefix, dtype=torch.long, device=dev), body_mask], dim=1)
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(chunk))
            positions = (n_prefix + torch.arange(width, device=dev))[None].expand(len(chunk), -1)
            result = base(
                input_ids=tokens,
                attention_mask=mask,
                position_ids=positions,
                output_hidden_states=True,
                use_cache=True,
                **{cache_arg: cache},
            )
            out[chunk] = _last_token(result.hidden_states, lengths - 1)
            if progress:
                progress(len(chunk))
    return out
