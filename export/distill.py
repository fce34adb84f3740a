"""Distillation: the CMM students on their slices, then the gates; the baselines from the same code.

Shaped like nanoGPT's train.py: defaults (`DistillConfig`), setup (`prepare`: tensors, scales,
teacher targets), small helpers, then one loop (`train_students`, `train_gate`) with a comment
heading each section. Everything is seeded: two runs with the same inputs give the same weights.

Student s learns slice (task, regime, layers): the task loss (Huber on the standardised target) on
its regime's rows plus a fixed random `other_share` of the other rows, and the feature-matching
loss (MSE between adapter(latent) and the standardised mean of the teacher's PCA features over the
slice's layers) on those of its rows that have teacher features.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from export.forecast_metrics import direction_reference, forecast_metrics
from export.gate import Gate, GateConfig, Mixture
from export.students import (
    BankConfig,
    Normalizer,
    PriceScale,
    SingleStudent,
    Slice,
    StudentBank,
    TaskScale,
    hidden_for_params,
)
from lob.features import feature_index, feature_names
from lob.table import Table
from lob.targets import REGIMES, SPLITS, TASKS


@dataclass(frozen=True)
class DistillConfig:
    hidden: int = 64  # per CMM student
    steps: int = 3000  # student training steps
    gate_steps: int = 1500
    batch: int = 512
    lr: float = 3e-3
    gate_lr: float = 1e-2
    weight_decay: float = 1e-4
    feature_weight: float = 1.0
    task_weight: float = 1.0
    huber_delta: float = 0.1  # in each dataset's target std: small, so the task loss is near L1 and fits the median
    other_share: float = 0.25  # share of the other regimes' rows a regime student also trains on
    teacher_share: float = 0.5  # share of each batch drawn from rows with teacher features
    eval_every: int = 100
    seed: int = 0
    threads: int = 1  # on 2 shared cores, 2 threads were 6x slower than 1 (OpenMP contention)
    gate: GateConfig = field(default_factory=GateConfig)

    def __post_init__(self) -> None:
        for name in ("hidden", "steps", "batch", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"DistillConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.gate_steps < 0:
            raise ValueError(f"DistillConfig.gate_steps must be >= 0, got {self.gate_steps}")
        for name in ("lr", "gate_lr", "huber_delta"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DistillConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "feature_weight", "task_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"DistillConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("other_share", "teacher_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"DistillConfig.{name} must be in [0, 1], got {getattr(self, name)}")


def slices_from_probe(decomposition: list[dict], n_layers: int) -> list[Slice]:
    """The probe's `decomposition` entries -> Slices (task and regime by name or index; regime null: all)."""
    if not decomposition:
        raise ValueError("probe decomposition is empty: no student to train")
    out = []
    for i, entry in enumerate(decomposition):
        try:
            task, regime, (lo, hi) = entry["task"], entry.get("regime"), entry["layers"]
            t = TASKS.index(task) if isinstance(task, str) else int(task)
            r = None if regime in (None, "all") else REGIMES.index(regime) if isinstance(regime, str) else int(regime)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"probe decomposition entry {i} is malformed ({err!r}): {entry}") from err
        if not (0 <= t < len(TASKS)) or (r is not None and not 0 <= r < len(REGIMES)) or not 0 <= lo <= hi < n_layers:
            raise ValueError(
                f"probe decomposition entry {i} is out of range (tasks {TASKS}, regimes {REGIMES}, "
                f"{n_layers} teacher layers): {entry}"
            )
        out.append(Slice(task=t, regime=r, layers=(int(lo), int(hi))))
    return out


PRICE_FEATURES = ("bid_rel_", "ask_rel_", "spread", "microprice_offset", "mid_return_", "realized_vol")
SCALED_TASKS = (TASKS.index("mid_change"),)  # predicted in units of the row's price scale


def price_index(levels: int) -> list[int]:
    """Columns of the price-like features (in ticks), which PriceScale divides by the row's price scale."""
    return [i for i, name in enumerate(feature_names(levels)) if name.startswith(PRICE_FEATURES)]


def width_index(levels: int) -> list[int]:
    """Columns of the deepest bid and ask level (the book's width is their difference)."""
    return [feature_index(f"bid_rel_{levels - 1}", levels), feature_index(f"ask_rel_{levels - 1}", levels)]


def price_scale(n_features: int, levels: int) -> PriceScale:
    vol = feature_index("realized_vol", levels)
    return PriceScale(n_features, price_index(levels), vol, width_index(levels), len(TASKS), list(SCALED_TASKS))


@dataclass
class Prepared:
    """Everything the loops read, as tensors, plus the statistics the exported graph bakes in."""

    x: torch.Tensor  # (N, F) raw features
    x_free: torch.Tensor  # (N, F) the same with the price-like columns over the row's price scale (what students see)
    yz: torch.Tensor  # (N, T) standardised targets in units of each row's price scale (0 where missing)
    loss_scale: torch.Tensor  # (N, T) each row's dataset target std over the pooled std (errors are divided by it)
    regime: np.ndarray  # (N,)
    splits: dict[str, np.ndarray]  # row indices per split
    teacher_pos: np.ndarray  # (N,) index into the teacher store, -1: none
    norm_mean: np.ndarray  # of the scale-free features
    norm_std: np.ndarray
    task_mean: np.ndarray  # of the targets over the price scale factor
    task_std: np.ndarray


def prepare(table: Table, teacher_rows: np.ndarray) -> Prepared:
    """Tensors and statistics; features and targets are made scale-free with the graph's own PriceScale."""
    splits = {s: table.rows(s) for s in SPLITS}
    if min(len(v) for v in splits.values()) == 0:
        raise ValueError(f"table has an empty split: { {s: len(v) for s, v in splits.items()} }")
    if len(teacher_rows) and (teacher_rows.min() < 0 or teacher_rows.max() >= len(table.X)):
        raise ValueError(f"teacher rows reach outside the table of {len(table.X)} rows: build both from the same data")
    train = splits["train"]
    x = torch.as_tensor(table.X, dtype=torch.float32)
    price = price_scale(table.X.shape[1], table.levels)
    with torch.no_grad():
        x_free = price.features(x)
        y = table.Y / price.factor(x).numpy().astype(np.float64)
    x_train, y_train = x_free[train].numpy().astype(np.float64), y[train]
    task_mean, task_std = y_train.mean(0), np.maximum(y_train.std(0), 1e-6)
    yz = np.nan_to_num((y - task_mean) / task_std)
    loss_scale = dataset_loss_scale(table.dataset_id, y, train, task_std)
    teacher_pos = np.full(len(table.X), -1, np.int64)
    teacher_pos[teacher_rows] = np.arange(len(teacher_rows))
    return Prepared(
        x=x,
        x_free=x_free,
        yz=torch.as_tensor(yz, dtype=torch.float32),
        loss_scale=torch.as_tensor(loss_scale, dtype=torch.float32),
        regime=table.regime,
        splits=splits,
        teacher_pos=teacher_pos,
        norm_mean=x_train.mean(0),
        norm_std=x_train.std(0),
        task_mean=task_mean,
        task_std=task_std,
    )


def slice_targets(features: np.ndarray, teacher_train: np.ndarray, groups: list[tuple[int, int]]) -> np.ndarray:
    """(R, L, P) teacher features -> (R, S, P): each group's layer mean, standardised on the training rows."""
    out = np.stack([features[:, lo : hi + 1].mean(1) for lo, hi in groups], axis=1).astype(np.float64)
    ref = out[teacher_train] if teacher_train.any() else out
    return ((out - ref.mean(0)) / np.maximum(ref.std(0), 1e-6)).astype(np.float32)


def include_mask(regime: np.ndarray, slice_regimes: list[int | None], other_share: float, seed: int) -> np.ndarray:
    """(N, S) bool: the rows each student trains on (its regime, plus a fixed share of the others)."""
    extra = np.random.default_rng(seed).random((len(regime), len(slice_regimes))) < other_share
    own = np.stack([np.ones_like(regime, bool) if r is None else regime == r for r in slice_regimes], axis=1)
    return own | extra


def dataset_loss_scale(dataset_id: np.ndarray, y: np.ndarray, train: np.ndarray, task_std: np.ndarray) -> np.ndarray:
    """(N, T): per row, its dataset's training target std over the pooled std (floored at 0.01).

    Even over the price scale, the instruments' targets differ in spread: without this, the pooled loss
    would see mostly the instrument with the widest targets."""
    out = np.ones_like(y)
    for i in np.unique(dataset_id):
        rows = train[dataset_id[train] == i]
        if len(rows) > 1:
            out[dataset_id == i] = np.maximum(np.nanstd(y[rows], axis=0) / task_std, 0.01)
    return out


def mixture_loss(mix: Mixture, p: Prepared, idx: np.ndarray, delta: float) -> torch.Tensor:
    err = (mix.standardized(p.x[idx])[0] - p.yz[idx]) / p.loss_scale[idx]
    return huber(err, delta).mean()


def huber(err: torch.Tensor, delta: float) -> torch.Tensor:
    """Huber loss of errors, divided by delta so that large errors cost |err| whatever delta is."""
    return nn.functional.huber_loss(err, torch.zeros_like(err), reduction="none", delta=delta) / delta


def student_losses(normalizer: Normalizer, bank: StudentBank, batch: dict, task_of: torch.Tensor, delta: float):
    """Masked task loss and feature-matching loss of a bank on one batch (scalars)."""
    out, latent = bank(normalizer(batch["x_free"]))  # (B, S, O), (S, B, H)
    w = batch["incl"]  # (B, S)
    err = (out - batch["yz"][:, task_of]) / batch["scale"][:, task_of]  # (B, S, O) in each dataset's own units
    task = (huber(err, delta).mean(-1) * w).sum() / w.sum().clamp(min=1.0)
    if batch.get("tz") is None:
        return task, torch.zeros(())
    fw = w * batch["has_t"][:, None]
    feat = (((bank.adapt(latent) - batch["tz"]) ** 2).mean(-1) * fw).sum() / fw.sum().clamp(min=1.0)
    return task, feat


def make_batch(p: Prepared, idx: np.ndarray, incl: np.ndarray, tz: np.ndarray | None) -> dict:
    batch = {
        "x_free": p.x_free[idx],
        "yz": p.yz[idx],
        "scale": p.loss_scale[idx],
        "incl": torch.as_tensor(incl[idx], dtype=torch.float32),
    }
    if tz is not None:
        pos = p.teacher_pos[idx]
        batch["tz"] = torch.as_tensor(tz[np.maximum(pos, 0)])
        batch["has_t"] = torch.as_tensor(pos >= 0, dtype=torch.float32)
    return batch


def sample(rng: np.random.Generator, rows: np.ndarray, teacher_rows: np.ndarray, cfg: DistillConfig) -> np.ndarray:
    k = int(cfg.batch * cfg.teacher_share) if len(teacher_rows) else 0
    return np.concatenate([rng.choice(rows, cfg.batch - k), rng.choice(teacher_rows, k) if k else rows[:0]])


def train_students(
    normalizer: Normalizer,
    bank: StudentBank,
    p: Prepared,
    incl: np.ndarray,
    task_of: np.ndarray,
    tz: np.ndarray | None,
    cfg: DistillConfig,
) -> list[dict]:
    """Train a bank in place; keep the weights with the best validation loss. Returns the curve."""
    rng = np.random.default_rng(cfg.seed)
    task_of_t = torch.as_tensor(task_of)
    train = p.splits["train"]
    teacher_train = train[p.teacher_pos[train] >= 0] if tz is not None and cfg.feature_weight > 0 else train[:0]
    val = make_batch(p, p.splits["val"], incl, tz)
    opt = torch.optim.AdamW(bank.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr / 20)
    history, best, best_state = [], float("inf"), copy.deepcopy(bank.state_dict())
    for step in range(1, cfg.steps + 1):
        # forward and backward on one batch
        batch = make_batch(p, sample(rng, train, teacher_train, cfg), incl, tz)
        task, feat = student_losses(normalizer, bank, batch, task_of_t, cfg.huber_delta)
        loss = cfg.task_weight * task + cfg.feature_weight * feat
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        # evaluate and keep the best
        if step % cfg.eval_every == 0 or step == cfg.steps:
            with torch.no_grad():
                vtask, vfeat = student_losses(normalizer, bank, val, task_of_t, cfg.huber_delta)
            vloss = float(cfg.task_weight * vtask + cfg.feature_weight * vfeat)
            history.append(
                {
                    "step": step,
                    "train_task": task.item(),
                    "train_feature": feat.item(),
                    "val_task": float(vtask),
                    "val_feature": float(vfeat),
                }
            )
            if vloss < best:
                best, best_state = vloss, copy.deepcopy(bank.state_dict())
    bank.load_state_dict(best_state)
    return history


def train_gate(mix: Mixture, p: Prepared, cfg: DistillConfig) -> list[dict]:
    """Train the gate of a mixture with its students frozen; keep the best validation state."""
    params = list(mix.gate.parameters()) if mix.gate.cfg.kind != "uniform" else []
    if not params or cfg.gate_steps == 0:
        return []
    for q in mix.bank.parameters():
        q.requires_grad_(False)
    rng = np.random.default_rng(cfg.seed + 1)
    train, val = p.splits["train"], p.splits["val"]
    opt = torch.optim.AdamW(params, lr=cfg.gate_lr, weight_decay=cfg.weight_decay)
    history, best, best_state = [], float("inf"), copy.deepcopy(mix.gate.state_dict())
    for step in range(1, cfg.gate_steps + 1):
        # forward and backward on one batch
        idx = rng.choice(train, cfg.batch)
        loss = mixture_loss(mix, p, idx, cfg.huber_delta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        # evaluate and keep the best
        if step % cfg.eval_every == 0 or step == cfg.gate_steps:
            with torch.no_grad():
                vloss = float(mixture_loss(mix, p, val, cfg.huber_delta))
            history.append({"step": step, "train_mixture": loss.item(), "val_mixture": vloss})
            if vloss < best:
                best, best_state = vloss, copy.deepcopy(mix.gate.state_dict())
    mix.gate.load_state_dict(best_state)
    return history


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, chunk: int = 8192) -> np.ndarray:
    """Task predictions (N, T) in target units from a Mixture or a SingleStudent."""
    parts = []
    for i in range(0, len(x), chunk):
        out = model(x[i : i + chunk])
        parts.append((out[0] if isinstance(out, tuple) else out).numpy())
    return np.concatenate(parts).astype(np.float64)


def r2(pred: np.ndarray, target: np.ndarray) -> float:
    sst = float(((target - target.mean(0)) ** 2).sum())
    return 1.0 - float(((pred - target) ** 2).sum()) / sst if sst > 0 else float("nan")


@dataclass
class DistillRun:
    spec: dict  # what `export.run_dir.build_*` needs to rebuild the modules
    mixtures: dict[str, Mixture]  # by gate kind; spec["gate"]["kind"] is the CMM
    singles: dict[str, SingleStudent]  # "label_only", "single_distilled"
    history: dict[str, list[dict]]
    evaluation: dict


def build_single(spec: dict, hidden: int, adapter: int) -> SingleStudent:
    cfg = BankConfig(
        n_features=spec["n_features"], n_students=1, hidden=hidden, n_outputs=len(TASKS), adapter_dims=adapter
    )
    return SingleStudent(
        Normalizer(spec["norm_mean"], spec["norm_std"]),
        StudentBank(cfg, spec["seed"]),
        TaskScale(spec["task_mean"], spec["task_std"]),
        spec_price_scale(spec),
    )


def spec_price_scale(spec: dict) -> PriceScale:
    return PriceScale(
        spec["n_features"],
        spec["price_index"],
        spec["vol_index"],
        spec["width_index"],
        len(TASKS),
        spec["scaled_tasks"],
    )


def build_mixture(spec: dict, gate: GateConfig) -> Mixture:
    tasks = [s["task"] for s in spec["slices"]]
    cfg = BankConfig(
        n_features=spec["n_features"],
        n_students=len(tasks),
        hidden=spec["hidden"],
        n_outputs=1,
        adapter_dims=spec["pca_dims"],
    )
    g = Gate(
        gate, tasks, spec["hidden"], spec["n_features"], np.asarray(spec["edges"]), spec["vol_index"], spec["seed"]
    )
    return Mixture(
        Normalizer(spec["norm_mean"], spec["norm_std"]),
        StudentBank(cfg, spec["seed"]),
        g,
        TaskScale(spec["task_mean"], spec["task_std"]),
        tasks,
        len(TASKS),
        spec_price_scale(spec),
    )


def make_spec(table: Table, p: Prepared, slices: list[Slice], pca_dims: int, cfg: DistillConfig) -> dict:
    cmm_params = BankConfig(
        n_features=table.X.shape[1], n_students=len(slices), hidden=cfg.hidden, adapter_dims=pca_dims
    ).params_per_student * len(slices)
    return {
        "n_features": table.X.shape[1],
        "hidden": cfg.hidden,
        "pca_dims": pca_dims,
        "seed": cfg.seed,
        "single_hidden": min(
            hidden_for_params(table.X.shape[1], len(TASKS), cmm_params),
            hidden_for_params(table.X.shape[1], len(TASKS), 100_000),
        ),
        "slices": [{"task": s.task, "regime": s.regime, "layers": list(s.layers)} for s in slices],
        "edges": [float(e) for e in table.edges],
        "vol_index": feature_index("realized_vol", table.levels),
        "price_index": price_index(table.levels),
        "width_index": width_index(table.levels),
        "scaled_tasks": list(SCALED_TASKS),
        "norm_mean": p.norm_mean.tolist(),
        "norm_std": p.norm_std.tolist(),
        "task_mean": p.task_mean.tolist(),
        "task_std": p.task_std.tolist(),
    }


@contextmanager
def flush_denormals():
    """Denormal Adam moments made steps 8x slower. Flushing them is process-wide CPU state that also
    breaks IEEE subnormals for every other library in the process, so it is switched off afterwards."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@flush_denormals()
def distill(
    table: Table,
    teacher_rows: np.ndarray,
    teacher_features: np.ndarray,
    slices: list[Slice],
    cfg: DistillConfig,
    teacher_forecast: np.ndarray | None = None,
) -> DistillRun:
    """Train CMM (students, then each gate kind), the label-only and the single distilled students.

    teacher_rows (R,) index the table; teacher_features is (R, layers, pca_dims); teacher_forecast,
    when given, is the teacher heads' (R, 3) forecast used as the "teacher" baseline.
    """
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    if teacher_features.ndim != 3 or len(teacher_features) != len(teacher_rows):
        raise ValueError(f"teacher features {teacher_features.shape} do not match {len(teacher_rows)} rows")
    n_layers, pca_dims = teacher_features.shape[1:]
    if max(s.layers[1] for s in slices) >= n_layers:
        raise ValueError(f"a slice asks for a teacher layer beyond the store's {n_layers} layers")
    p = prepare(table, teacher_rows)
    spec = make_spec(table, p, slices, pca_dims, cfg)
    teacher_train = table.split[teacher_rows] == SPLITS.index("train")
    history: dict[str, list[dict]] = {}

    # CMM students, all slices in one bank
    tz = slice_targets(teacher_features, teacher_train, [s.layers for s in slices])
    incl = include_mask(p.regime, [s.regime for s in slices], cfg.other_share, cfg.seed)
    base = build_mixture(spec, cfg.gate)
    history["students"] = train_students(
        base.normalizer, base.bank, p, incl, np.array([[s.task] for s in slices]), tz, cfg
    )
    # one gate per kind on the same students
    mixtures = {}
    for kind in dict.fromkeys([cfg.gate.kind, "uniform", "softmax"]):
        mix = build_mixture(spec, GateConfig(**{**cfg.gate.__dict__, "kind": kind}))
        mix.bank.load_state_dict(base.bank.state_dict())
        history[f"gate_{kind}"] = train_gate(mix, p, cfg)
        mixtures[kind] = mix.eval()

    # baselines: one all-task network of the same total size, without and with the teacher's last layer
    singles = {}
    all_rows = np.ones((len(table.X), 1), bool)
    tz_last = slice_targets(teacher_features, teacher_train, [(n_layers - 1, n_layers - 1)])
    for name, targets, adapter in (("label_only", None, 0), ("single_distilled", tz_last, pca_dims)):
        model = build_single(spec, spec["single_hidden"], adapter)
        history[name] = train_students(
            model.normalizer, model.bank, p, all_rows, np.arange(len(TASKS))[None, :], targets, cfg
        )
        singles[name] = model.eval()
    evaluation = evaluate(table, p, mixtures, singles, spec, tz, teacher_rows, teacher_forecast)
    return DistillRun(spec=spec, mixtures=mixtures, singles=singles, history=history, evaluation=evaluation)


def evaluate(
    table: Table,
    p: Prepared,
    mixtures: dict,
    singles: dict,
    spec: dict,
    tz: np.ndarray,
    teacher_rows: np.ndarray,
    teacher_forecast: np.ndarray | None,
) -> dict:
    """Forecast metrics on the test rows for every model, and the fidelity of students to their slices."""
    test = p.splits["test"]
    ref = direction_reference(
        table.X[:, feature_index("spread", table.levels)], float(np.median(table.Y[p.splits["train"], 2]))
    )
    preds = {f"cmm_{k}": predict(m, p.x[test]) for k, m in mixtures.items()}
    preds.update({k: predict(m, p.x[test]) for k, m in singles.items()})
    models = {k: forecast_metrics(v, table.Y[test], ref[test]) for k, v in preds.items()}
    ids = table.dataset_id[test]
    by_dataset = {
        str(int(i)): {
            k: forecast_metrics(v[ids == i], table.Y[test][ids == i], ref[test][ids == i]) for k, v in preds.items()
        }
        for i in np.unique(ids)
    }
    on_teacher = p.teacher_pos[test] >= 0
    t_test = test[on_teacher]
    subset = {k: forecast_metrics(v[on_teacher], table.Y[t_test], ref[t_test]) for k, v in preds.items()}
    out = {
        "test_rows": int(len(test)),
        "test_rows_with_teacher": int(len(t_test)),
        "models": models,
        "models_on_teacher_rows": subset,
        "models_by_dataset": by_dataset,
    }
    cmm = mixtures[next(iter(mixtures))]
    with torch.no_grad():
        _, _, _, latent = cmm.standardized(p.x[t_test])
        adapted = cmm.bank.adapt(latent).numpy()
    target = tz[p.teacher_pos[t_test]]
    out["fidelity"] = {"students": [{**s, "r2": r2(adapted[:, i], target[:, i])} for i, s in enumerate(spec["slices"])]}
    if teacher_forecast is not None and len(t_test):
        tf = teacher_forecast[p.teacher_pos[t_test]]
        subset["teacher"] = forecast_metrics(tf, table.Y[t_test], ref[t_test])
        cp = preds[f"cmm_{next(iter(mixtures))}"][on_teacher]
        out["fidelity"]["mixture_vs_teacher"] = {
            task: {
                "mae": float(np.mean(np.abs(cp[:, k] - tf[:, k]))),
                "corr": float(np.corrcoef(cp[:, k], tf[:, k])[0, 1])
                if np.std(cp[:, k]) * np.std(tf[:, k]) > 0
                else float("nan"),
            }
            for k, task in enumerate(TASKS)
        }
    return out
