"""Teacher features for table rows: choose the rows, render prompts, run the teacher, PCA, store.

A store is reused when its `key` matches: the key covers the teacher's identity, PROMPT_VERSION, the data
contents, the horizon, the chosen rows and the PCA size, so a change in any of them rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from export.prompt import PROMPT_VERSION, describe_rows, template_for
from export.teacher import load_teacher, teacher_identity
from export.teacher_states import prefix_states
from export.teacher_store import LayerPca, read_meta, save_store
from lob.dataset import Dataset, content_hash
from lob.features import records
from lob.table import NO_SPLIT, Table, build_table
from lob.targets import DEFAULT_HORIZON, SPLITS

DEFAULT_PCA_DIMS = 32
DEFAULT_BATCH = 16

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureOptions:
    """Which rows get teacher features and how they are computed.

    stride: every K-th row of the table with a split (train, val and test alike);
    limit: then at most N of those, evenly spaced (so every split keeps its share).
    """

    teacher: str = "smollm2"
    horizon: int = DEFAULT_HORIZON
    stride: int = 1
    limit: int | None = None
    batch: int = DEFAULT_BATCH
    pca_dims: int = DEFAULT_PCA_DIMS
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("horizon", "stride", "batch", "pca_dims"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"limit must be >= 2 (PCA needs rows), got {self.limit}")


def select_rows(table: Table, stride: int = 1, limit: int | None = None) -> np.ndarray:
    """Table indices that get teacher features (sorted)."""
    rows = np.flatnonzero(table.split != NO_SPLIT)[::stride]
    if limit is not None and len(rows) > limit:
        rows = rows[np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(np.int64))]
    if not np.any(table.split[rows] == SPLITS.index("train")):
        raise ValueError(f"no training rows among the {len(rows)} selected rows: lower --stride or raise --limit")
    return rows.astype(np.int64)


def prompt_bodies(datasets: list[Dataset], table: Table, rows: np.ndarray) -> list[str]:
    """The prompt body of each selected table row, in row order."""
    bodies: list[str] = [""] * len(rows)
    for i, ds in enumerate(datasets):
        mine = np.flatnonzero(table.dataset_id[rows] == i)
        for j, body in zip(mine, describe_rows(records(ds), table.row[rows[mine]]), strict=True):
            bodies[j] = body
    return bodies


def store_meta(datasets: list[Dataset], rows: np.ndarray, options: FeatureOptions, identity: str) -> dict:
    """Everything that decides the features, and the `key` hashed from it."""
    decides = {
        "teacher": options.teacher,
        "teacher_identity": identity,
        "prompt_version": PROMPT_VERSION,
        "data": [content_hash(ds) for ds in datasets],
        "horizon": options.horizon,
        "pca_dims_requested": options.pca_dims,
        "rows_sha256": hashlib.sha256(rows.astype(np.int64).tobytes()).hexdigest()[:16],
    }
    key = hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()[:16]
    return {**decides, "key": key}


def build_features(
    datasets: list[Dataset], out: str | Path, options: FeatureOptions = FeatureOptions(), data_files: list[str] = ()
) -> dict:
    """Compute (or reuse) the store in `out`; return its meta. `data_files` are recorded for `cmm probe`."""
    table = build_table(datasets, options.horizon)
    rows = select_rows(table, options.stride, options.limit)
    meta = store_meta(datasets, rows, options, teacher_identity(options.teacher))
    old = read_meta(out)
    if old is not None and old.get("key") == meta["key"]:
        log.info("reusing the teacher store in %s (key %s)", out, meta["key"])
        return old
    teacher = load_teacher(options.teacher, options.device)
    template = template_for(teacher.tokenizer)
    bodies = prompt_bodies(datasets, table, rows)
    start = time.perf_counter()
    with tqdm(total=len(rows), unit="snap", desc="teacher features", smoothing=0.1) as bar:
        states = prefix_states(teacher, template, bodies, options.batch, progress=bar.update)
    seconds = time.perf_counter() - start
    train = table.split[rows] == SPLITS.index("train")
    pca = LayerPca.fit(states[train], options.pca_dims)
    meta |= {
        "data_files": [str(Path(f).resolve()) for f in data_files],
        "device": str(teacher.device),
        "batch": options.batch,
        "stride": options.stride,
        "limit": options.limit,
        "split_counts": {s: int(np.sum(table.split[rows] == k)) for k, s in enumerate(SPLITS)},
        "seconds": round(seconds, 1),
        "snapshots_per_second": round(len(rows) / seconds, 3),
        "hidden_size": teacher.hidden_size,
        "pca_explained": [round(float(e.sum()), 4) for e in pca.explained],
        "options": asdict(options),
    }
    save_store(out, pca.transform(states), rows, pca, meta)
    return read_meta(out)
