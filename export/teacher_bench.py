"""`cmm teacher bench`: naive per-snapshot forwards vs the optimised path, measured in one run."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from export.prompt import PROMPT_VERSION, template_for
from export.teacher import Teacher
from export.teacher_states import body_ids, naive_states, prefix_states


@dataclass(frozen=True)
class BenchResult:
    naive_snapshots: int
    naive_seconds: float
    optimised_snapshots: int
    optimised_seconds: float
    batch: int
    mean_body_tokens: float
    prefix_tokens: int
    max_abs_diff: float  # naive vs optimised hidden states on the snapshots both ran
    max_abs_state: float

    @property
    def naive_rate(self) -> float:
        return self.naive_snapshots / self.naive_seconds

    @property
    def optimised_rate(self) -> float:
        return self.optimised_snapshots / self.optimised_seconds

    def report(self) -> str:
        return "\n".join(
            [
                f"prompt {PROMPT_VERSION}: prefix {self.prefix_tokens} tokens (once), body {self.mean_body_tokens:.1f} "
                "tokens on average",
                f"naive      (1 snapshot per full forward, LM head): {self.naive_rate:7.3f} snapshots/s  "
                f"{1 / self.naive_rate:7.3f} s/snapshot  ({self.naive_snapshots} snapshots)",
                f"optimised  (prefix KV cache, batch {self.batch}, no LM head): "
                f"{self.optimised_rate:7.3f} snapshots/s  "
                f"{1 / self.optimised_rate:7.3f} s/snapshot  ({self.optimised_snapshots} snapshots)",
                f"speed-up {self.optimised_rate / self.naive_rate:.2f}x; max |naive - optimised| hidden state "
                f"{self.max_abs_diff:.2e} (max |state| {self.max_abs_state:.1f})",
            ]
        )


def bench(teacher: Teacher, bodies: list[str], naive: int, batch: int) -> BenchResult:
    """Warm both paths up, then time `naive` snapshots one by one and all `bodies` batched."""
    if not 1 <= naive <= len(bodies):
        raise ValueError(f"naive snapshot count must be in 1..{len(bodies)}, got {naive}")
    template = template_for(teacher.tokenizer)
    naive_states(teacher, template, bodies[:1])
    prefix_states(teacher, template, bodies[:batch], batch)
    start = time.perf_counter()
    slow = naive_states(teacher, template, bodies[:naive])
    naive_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fast = prefix_states(teacher, template, bodies, batch)
    optimised_seconds = time.perf_counter() - start
    lengths = [len(ids) for ids in body_ids(teacher, template, bodies)]
    prefix = teacher.tokenizer(template.prefix, add_special_tokens=False)["input_ids"]
    return BenchResult(
        naive_snapshots=naive,
        naive_seconds=naive_seconds,
        optimised_snapshots=len(bodies),
        optimised_seconds=optimised_seconds,
        batch=batch,
        mean_body_tokens=float(np.mean(lengths)),
        prefix_tokens=len(prefix),
        max_abs_diff=float(np.abs(slow - fast[:naive]).max()),
        max_abs_state=float(np.abs(slow).max()),
    )
