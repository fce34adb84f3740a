"""The normalized fluorescent probe: where in the teacher each task's knowledge lives, per regime.

For layer l, task t and regime g (ridge probes fitted on training rows of regime g, scored on its
validation rows):
    raw[l, t, g]   = R²(probe on layer-l teacher features) - R²(probe on the raw input features)
    score[l, t, g] = (raw - min_l raw) / (max_l raw - min_l raw)        (1 everywhere if raw is flat)
The recommended decomposition takes, for each (task, regime), the contiguous layers around the best
layer whose score is at least `threshold`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.ridge import fit_ridge, r2_score
from export.teacher_store import TeacherStore
from lob.table import Table
from lob.targets import REGIMES, SPLITS, TASKS


@dataclass(frozen=True)
class ProbeOptions:
    threshold: float = 0.8  # normalised score a layer needs to join its task's group
    min_rows: int = 10  # training and validation rows needed per regime

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.min_rows < 3:
            raise ValueError(f"min_rows must be >= 3, got {self.min_rows}")


@dataclass(frozen=True)
class ProbeResult:
    r2: np.ndarray  # (n_layers, n_tasks, n_regimes) held-out R² of the layer probes
    background_r2: np.ndarray  # (n_tasks, n_regimes) held-out R² of the raw-feature probe
    score: np.ndarray  # (n_layers, n_tasks, n_regimes) normalised to [0, 1] across layers
    groups: np.ndarray  # (n_tasks, n_regimes, 2) inclusive [lo, hi] layer groups
    counts: dict  # {regime: {"train": n, "val": n}}

    def to_json(self) -> dict:
        tasks_regimes = [(t, g) for t in range(len(TASKS)) for g in range(len(REGIMES))]

        def per(a: np.ndarray) -> dict:
            return {
                TASKS[t]: {REGIMES[g]: np.round(a[..., t, g], 6).tolist() for g in range(len(REGIMES))}
                for t in range(len(TASKS))
            }

        return {
            "layers": int(self.r2.shape[0]),
            "tasks": list(TASKS),
            "regimes": list(REGIMES),
            "score": per(self.score),
            "r2": per(self.r2),
            "background_r2": per(self.background_r2),
            "decomposition": [
                {"task": TASKS[t], "regime": REGIMES[g], "layers": [int(x) for x in self.groups[t, g]]}
                for t, g in tasks_regimes
            ],
            "rows": self.counts,
        }


def normalise(raw: np.ndarray) -> np.ndarray:
    """Min-max across layers (axis 0) to [0, 1]; a flat curve becomes all ones (no layer stands out)."""
    lo, hi = raw.min(axis=0, keepdims=True), raw.max(axis=0, keepdims=True)
    span = hi - lo
    return np.where(span > 1e-12, (raw - lo) / np.where(span > 1e-12, span, 1.0), 1.0)


def best_group(score: np.ndarray, threshold: float) -> tuple[int, int]:
    """The contiguous run of layers around the best one with score >= threshold (inclusive bounds)."""
    best = int(np.argmax(score))
    lo = hi = best
    while lo > 0 and score[lo - 1] >= threshold:
        lo -= 1
    while hi < len(score) - 1 and score[hi + 1] >= threshold:
        hi += 1
    return lo, hi


def run_probe(store: TeacherStore, table: Table, options: ProbeOptions = ProbeOptions()) -> ProbeResult:
    rows = store.rows
    if rows.max(initial=-1) >= len(table.split):
        raise ValueError(f"store rows reach {rows.max()}, but the table has {len(table.split)} rows")
    split, regime = table.split[rows], table.regime[rows]
    y, x_raw = table.Y[rows], table.X[rows]
    n_layers = store.n_layers
    r2 = np.empty((n_layers, len(TASKS), len(REGIMES)))
    background = np.empty((len(TASKS), len(REGIMES)))
    counts = {}
    for g, name in enumerate(REGIMES):
        train = (split == SPLITS.index("train")) & (regime == g)
        val = (split == SPLITS.index("val")) & (regime == g)
        counts[name] = {"train": int(train.sum()), "val": int(val.sum())}
        if min(train.sum(), val.sum()) < options.min_rows:
            raise ValueError(
                f"regime {name}: {int(train.sum())} train and {int(val.sum())} val rows have teacher features, "
                f"need {options.min_rows} each: lower --stride or raise --limit"
            )
        background[:, g] = r2_score(y[val], fit_ridge(x_raw[train], y[train]).predict(x_raw[val]))
        for layer in range(n_layers):
            probe = fit_ridge(store.features[train, layer], y[train])
            r2[layer, :, g] = r2_score(y[val], probe.predict(store.features[val, layer]))
    score = normalise(r2 - background[None])
    groups = np.array(
        [[best_group(score[:, t, g], options.threshold) for g in range(len(REGIMES))] for t in range(len(TASKS))]
    )
    return ProbeResult(r2=r2, background_r2=background, score=score, groups=groups, counts=counts)


def plot_probe(result: ProbeResult, path: Path, title: str) -> None:
    """One heatmap per regime: layers (rows) by tasks (columns), value printed in each cell, groups boxed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n_layers = result.score.shape[0]
    fig, axes = plt.subplots(1, len(REGIMES), figsize=(4.2 * len(REGIMES), 0.28 * n_layers + 2.2), sharey=True)
    for g, ax in enumerate(axes):
        image = ax.imshow(result.score[:, :, g], aspect="auto", cmap="viridis", vmin=0, vmax=1, origin="lower")
        for (layer, t), value in np.ndenumerate(result.score[:, :, g]):
            ax.text(
                t,
                layer,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="black" if value > 0.6 else "white",
            )
        for t in range(len(TASKS)):
            lo, hi = result.groups[t, g]
            ax.add_patch(Rectangle((t - 0.5, lo - 0.5), 1, hi - lo + 1, fill=False, edgecolor="red", linewidth=2))
        bg = "\n".join(f"{task} {result.background_r2[t, g]:.3f}" for t, task in enumerate(TASKS))
        ax.set_title(f"regime {REGIMES[g]}\nbackground (raw-feature) R²:\n{bg}", fontsize=8)
        ax.set_xticks(range(len(TASKS)), TASKS)
        ax.set_xlabel("task")
        if g == 0:
            ax.set_ylabel("teacher layer (0 = embeddings)")
    fig.colorbar(image, ax=axes, shrink=0.8, label="normalised probe score (R² gain over raw features, min-max)")
    fig.suptitle(f"{title}\nred boxes: recommended layer group per task and regime", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_probe(result: ProbeResult, out: str | Path, meta: dict) -> Path:
    """Write probe.json (with the store's identity) and probe.png to `out`; return the JSON path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = result.to_json() | {
        "teacher": meta.get("teacher"),
        "prompt_version": meta.get("prompt_version"),
        "features_key": meta.get("key"),
        "data": meta.get("data"),
    }
    (out / "probe.json").write_text(json.dumps(doc, indent=1))
    plot_probe(
        result,
        out / "probe.png",
        f"Normalized fluorescent probe: {meta.get('teacher')}, "
        f"prompt {meta.get('prompt_version')}, {sum(sum(c.values()) for c in result.counts.values())} rows",
    )
    return out / "probe.json"
