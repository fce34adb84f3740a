"""The teacher feature store on disk, and the per-layer PCA that shrinks hidden states to it.

DIR/meta.json    teacher, prompt_version, data hashes, horizon, n_layers, pca_dims, rows, key, ...
DIR/features.npy float32 (R, n_layers, pca_dims): PCA-reduced last-token hidden states (layer 0 = embeddings)
DIR/rows.npy     int64 (R,): indices into the Table built from the same datasets in the same order
DIR/pca.npz      per-layer standardisation and components (fitted on training rows)
meta.json is written last, so a store without it is incomplete and never reused.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lob.dataset import Dataset, content_hash

META, FEATURES, ROWS, PCA = "meta.json", "features.npy", "rows.npy", "pca.npz"


@dataclass(frozen=True)
class LayerPca:
    """Per layer: standardise each hidden unit (train mean and std), then project on the top components.

    Standardising first keeps the few huge "massive activation" units of an LM from owning every component.
    """

    mean: np.ndarray  # (L, H)
    scale: np.ndarray  # (L, H)
    components: np.ndarray  # (L, D, H), rows orthonormal
    explained: np.ndarray  # (L, D) explained-variance ratio of each component

    @classmethod
    def fit(cls, states: np.ndarray, dims: int) -> LayerPca:
        """Fit on (N, L, H) training states; `dims` is capped by N and H."""
        n, layers, hidden = states.shape
        if n < 2:
            raise ValueError(f"PCA needs at least 2 training rows, got {n}")
        dims = min(dims, n, hidden)
        mean = states.mean(axis=0, dtype=np.float64)
        scale = states.std(axis=0, dtype=np.float64)
        scale = np.where(scale > 1e-12, scale, 1.0)
        components = np.empty((layers, dims, hidden))
        explained = np.empty((layers, dims))
        for layer in range(layers):
            z = (states[:, layer] - mean[layer]) / scale[layer]  # (N, H)
            _, s, vt = np.linalg.svd(z, full_matrices=False)
            components[layer] = vt[:dims]
            explained[layer] = (s[:dims] ** 2) / max(float((s**2).sum()), 1e-300)
        return cls(mean=mean, scale=scale, components=components, explained=explained)

    @property
    def dims(self) -> int:
        return self.components.shape[1]

    def transform(self, states: np.ndarray) -> np.ndarray:
        """(N, L, H) -> (N, L, D) float32."""
        z = (states - self.mean[None]) / self.scale[None]
        return np.einsum("nlh,ldh->nld", z, self.components).astype(np.float32)

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean, scale=self.scale, components=self.components, explained=self.explained)

    @classmethod
    def load(cls, path: Path) -> LayerPca:
        with np.load(path) as z:
            return cls(**{k: z[k] for k in ("mean", "scale", "components", "explained")})


@dataclass(frozen=True)
class TeacherStore:
    rows: np.ndarray  # (R,) int64 Table indices
    features: np.ndarray  # (R, n_layers, pca_dims) float32
    meta: dict

    @property
    def n_layers(self) -> int:
        return self.features.shape[1]

    def check_datasets(self, datasets: list[Dataset], horizon: int | None = None) -> None:
        """Raise ValueError unless these are the datasets (same contents, same order) the store was built on."""
        hashes = [content_hash(ds) for ds in datasets]
        if hashes != self.meta["data"]:
            raise ValueError(f"teacher store was built on data {self.meta['data']}, not {hashes}")
        if horizon is not None and horizon != self.meta["horizon"]:
            raise ValueError(f"teacher store was built with horizon {self.meta['horizon']}, not {horizon}")


def read_meta(directory: str | Path) -> dict | None:
    """The store's meta.json, or None when there is no complete store there."""
    path = Path(directory) / META
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_store(directory: str | Path, features: np.ndarray, rows: np.ndarray, pca: LayerPca, meta: dict) -> None:
    """Write the four files; meta.json (with counts filled in) goes last."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / META).unlink(missing_ok=True)  # an older store stops being "complete" while we write
    meta = {**meta, "rows": int(len(rows)), "n_layers": int(features.shape[1]), "pca_dims": int(features.shape[2])}
    _atomic(directory / FEATURES, lambda f: np.save(f, features.astype(np.float32)))
    _atomic(directory / ROWS, lambda f: np.save(f, rows.astype(np.int64)))
    _atomic(directory / PCA, lambda f: pca.save(f))
    _atomic(directory / META, lambda f: f.write(json.dumps(meta, indent=1).encode()))


def load_store(directory: str | Path) -> TeacherStore:
    """Read and cross-check a store written by `cmm teacher features`."""
    directory = Path(directory)
    meta = read_meta(directory)
    if meta is None:
        raise FileNotFoundError(f"{directory}: no teacher feature store (no {META}; run `cmm teacher features`)")
    for name in (FEATURES, ROWS):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory / name}: missing from the teacher store")
    features = np.load(directory / FEATURES, mmap_mode="r")
    rows = np.load(directory / ROWS)
    expected = (meta["rows"], meta["n_layers"], meta["pca_dims"])
    if features.shape != expected or features.dtype != np.float32:
        raise ValueError(f"{directory / FEATURES}: {features.dtype} {features.shape}, meta says float32 {expected}")
    if rows.shape != (meta["rows"],) or rows.dtype != np.int64:
        raise ValueError(f"{directory / ROWS}: {rows.dtype} {rows.shape}, expected int64 ({meta['rows']},)")
    return TeacherStore(rows=rows, features=np.asarray(features), meta=meta)
