"""A distillation run on disk: what `cmm distill` writes and `cmm export` reads.

RUN/checkpoint.pt   spec + gate configs + state dicts (tensors and plain values only: loads with weights_only)
RUN/history.json    training curves per phase
RUN/evaluation.json test-set figures (torch), fidelity
RUN/meta.json       data, features, teacher, command, config, timings: everything the manifest repeats
RUN/sample.npy      up to 1,000 real test rows (raw features) for the ORT parity check and the latency run
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from export.distill import DistillRun, build_mixture, build_single
from export.gate import GateConfig

CHECKPOINT, HISTORY, EVALUATION, META, SAMPLE = (
    "checkpoint.pt",
    "history.json",
    "evaluation.json",
    "meta.json",
    "sample.npy",
)


def save_run(run: DistillRun, directory: str | Path, meta: dict, sample: np.ndarray) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {f"cmm_{k}": m.state_dict() for k, m in run.mixtures.items()}
    state.update({k: m.state_dict() for k, m in run.singles.items()})
    gates = {k: asdict(m.gate.cfg) for k, m in run.mixtures.items()}
    adapters = {k: m.bank.cfg.adapter_dims for k, m in run.singles.items()}
    torch.save({"spec": run.spec, "gates": gates, "adapters": adapters, "state": state}, directory / CHECKPOINT)
    (directory / HISTORY).write_text(json.dumps(run.history, indent=1))
    (directory / EVALUATION).write_text(json.dumps(run.evaluation, indent=1))
    (directory / META).write_text(json.dumps(meta, indent=1))
    np.save(directory / SAMPLE, np.ascontiguousarray(sample, dtype=np.float32))
    return directory


def load_run(directory: str | Path) -> tuple[DistillRun, dict, np.ndarray]:
    """(run with modules rebuilt in eval mode, meta, sample rows)."""
    directory = Path(directory)
    for name in (CHECKPOINT, HISTORY, EVALUATION, META, SAMPLE):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory / name}: missing; is {directory} a run written by `cmm distill`?")
    ckpt = torch.load(directory / CHECKPOINT, weights_only=True)
    spec = ckpt["spec"]
    mixtures = {}
    for kind, gate in ckpt["gates"].items():
        mixtures[kind] = build_mixture(spec, GateConfig(**gate))
        mixtures[kind].load_state_dict(ckpt["state"][f"cmm_{kind}"])
    singles = {}
    for name, adapter in ckpt["adapters"].items():
        singles[name] = build_single(spec, spec["single_hidden"], adapter)
        singles[name].load_state_dict(ckpt["state"][name])
    run = DistillRun(
        spec=spec,
        mixtures={k: m.eval() for k, m in mixtures.items()},
        singles={k: m.eval() for k, m in singles.items()},
        history=json.loads((directory / HISTORY).read_text()),
        evaluation=json.loads((directory / EVALUATION).read_text()),
    )
    return run, json.loads((directory / META).read_text()), np.load(directory / SAMPLE)
