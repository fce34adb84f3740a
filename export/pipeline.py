"""The stages after the teacher: distil into a run directory, export a bundle; and the whole pipeline.

`run_pipeline` goes prepare -> teacher features -> probe -> distill -> export, calling the other
stages through their CLI handlers (`cmm.cli.main`), and reuses what is already on disk: prepared
datasets under data/ and a teacher store whose key matches (the teacher stage decides reuse).
The teacher store covers Bitstamp only; Bitstamp comes first in the table, so the store's rows
index the combined table too (checked through the data hashes).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
BINANCE_DIR = ROOT.parent / "shared" / "data" / "binance"
# (output name, files chained in order) for each Binance capture the full pipeline adds when present
BINANCE = (
    ("binance_spot_btcusdt", ("spot_btcusdt_20240808.gz", "spot_btcusdt_20240809.gz")),
    ("binance_spot_ethusdt", ("spot_ethusdt_20240808.gz", "spot_ethusdt_20240809.gz")),
    ("binance_usdm_btcusdt", ("usdm_btcusdt_20240808.gz",)),
    ("binance_usdm_ethusdt", ("usdm_ethusdt_20240808.gz",)),
)


@dataclass(frozen=True)
class PipelineOptions:
    """Which Bitstamp rows get teacher features: every `teacher_stride`-th row with a split, then at most
    `teacher_limit` of them. The defaults are the teacher stage's own run (runs/bitstamp_teacher, 4,463 rows);
    quick takes 120 evenly spaced rows, the fewest that give every regime 3 train and 3 val rows."""

    quick: bool = False
    data_dir: Path = ROOT / "data"
    work_dir: Path = ROOT / "runs"
    teacher_stride: int | None = None  # default 4 (full) or 1 (quick)
    teacher_limit: int | None = None  # default none (full) or 120 (quick)
    teacher_timing_snapshots: int = 4

    def __post_init__(self) -> None:
        if self.teacher_stride is not None and self.teacher_stride < 1:
            raise ValueError(f"PipelineOptions.teacher_stride must be >= 1, got {self.teacher_stride}")
        if self.teacher_limit is not None and self.teacher_limit < 2:
            raise ValueError(f"PipelineOptions.teacher_limit must be >= 2, got {self.teacher_limit}")
        if self.teacher_timing_snapshots < 1:
            raise ValueError("PipelineOptions.teacher_timing_snapshots must be >= 1")

    def teacher_rows(self) -> tuple[int, int | None]:
        default = (1, 120) if self.quick else (4, None)
        return (self.teacher_stride or default[0], self.teacher_limit if self.teacher_limit is not None else default[1])

    def store_dir(self) -> Path:
        """runs/bitstamp_teacher for the teacher stage's own selection, else a directory named for the selection,
        so a different selection never overwrites that store."""
        stride, limit = self.teacher_rows()
        name = "bitstamp_teacher" if (stride, limit) == (4, None) else f"bitstamp_teacher_s{stride}_l{limit}"
        return self.work_dir / name


def _cli(argv: list[str]) -> None:
    from cmm.cli import CLIError, main

    log.info("cmm %s", " ".join(argv))
    if main(argv) != 0:
        raise CLIError(f"pipeline stage `cmm {' '.join(argv)}` failed")


def dataset_entry(path: Path, ds, rows: int) -> dict:
    from lob.dataset import content_hash, file_sha256

    return {
        "name": path.name,
        "path": str(path),
        "sha256": file_sha256(path),
        "content_hash": content_hash(ds),
        "symbol": ds.symbol,
        "venue": ds.venue,
        "tick": ds.tick,
        "rows": rows,
        "sources": [{"name": s.get("name"), "sha256": s.get("sha256")} for s in ds.sources],
    }


def time_teacher(teacher: str, datasets: list, table, count: int) -> dict | None:
    """Seconds per snapshot of the teacher: naive (one full forward per snapshot) and optimised (batched)."""
    if count == 0:
        return None
    from export.teacher import load_teacher
    from export.teacher_bench import bench
    from export.teacher_features import prompt_bodies

    test = table.rows("test")
    rows = test[np.linspace(0, len(test) - 1, 2 * count).round().astype(np.int64)]
    result = bench(load_teacher(teacher), prompt_bodies(datasets, table, rows), count, 2 * count)
    return {
        "how": f"naive: one full forward per snapshot, batch 1, mean of {count}",
        "seconds_per_snapshot": result.naive_seconds / result.naive_snapshots,
        "optimised_seconds_per_snapshot": result.optimised_seconds / result.optimised_snapshots,
        "batch": result.batch,
    }


def distill_stage(
    data: list[Path], features: Path, probe: Path, out: Path, cfg, command: str, timing_snapshots: int = 0
) -> Path:
    """Build the table, load teacher store and probe, distil, and write the run directory."""
    from dataclasses import asdict

    from export.distill import distill, slices_from_probe
    from export.run_dir import save_run
    from export.teacher_heads import teacher_forecast
    from export.teacher_store import load_store
    from lob.dataset import content_hash, load
    from lob.features import WINDOW
    from lob.table import build_table

    t0 = time.time()
    store = load_store(features)
    datasets = [load(p) for p in data]
    hashes = [content_hash(ds) for ds in datasets]
    if hashes[: len(store.meta["data"])] != store.meta["data"]:
        raise ValueError(
            f"{features}: the teacher store was built on data {store.meta['data']}; pass those "
            f"datasets first, in that order (got {hashes})"
        )
    if not probe.exists():
        raise FileNotFoundError(f"{probe}: no probe.json (run `cmm probe`)")
    decomposition = json.loads(probe.read_text()).get("decomposition")
    slices = slices_from_probe(decomposition or [], store.n_layers)
    table = build_table(datasets, store.meta["horizon"])
    try:
        forecast = teacher_forecast(store, table)
    except ValueError as err:  # too few val rows with teacher features for the heads
        log.warning("no teacher baseline: %s", err)
        forecast = None
    run = distill(table, store.rows, store.features, slices, cfg, forecast)
    test = table.rows("test")
    sample = table.X[test[np.linspace(0, len(test) - 1, min(1000, len(test))).round().astype(np.int64)]]
    n_teacher_data = len(store.meta["data"])
    meta = {
        "command": command,
        "datasets": [
            dataset_entry(Path(p), ds, int(np.sum(table.dataset_id == i)))
            for i, (p, ds) in enumerate(zip(data, datasets, strict=True))
        ],
        "feature_names": table.feature_names,
        "levels": table.levels,
        "window": WINDOW,
        "horizon": table.horizon,
        "grid_ms": datasets[0].grid_ns / 1e6,
        "teacher": {
            "name": store.meta.get("teacher"),
            "prompt_version": store.meta.get("prompt_version"),
            "key": store.meta.get("key"),
            "rows": int(len(store.rows)),
            "n_layers": store.n_layers,
            "pca_dims": int(store.features.shape[2]),
            "datasets": n_teacher_data,
        },
        "probe": str(probe),
        "config": asdict(cfg),
        "distill_seconds": round(time.time() - t0, 1),
        "teacher_timing": time_teacher(
            store.meta.get("teacher", "smollm2"),
            datasets[:n_teacher_data],
            build_table(datasets[:n_teacher_data], table.horizon),
            timing_snapshots,
        ),
    }
    return save_run(run, out, meta, sample)


def run_probe_stage(store_dir: Path, data: Path, out: Path, min_rows: int) -> Path:
    """`cmm probe` through its public functions, so the quick run can accept fewer rows per regime."""
    from export.probe import ProbeOptions, run_probe, write_probe
    from export.teacher_store import load_store
    from lob.dataset import load
    from lob.table import build_table

    store = load_store(store_dir)
    datasets = [load(data)]
    store.check_datasets(datasets)
    result = run_probe(store, build_table(datasets, store.meta["horizon"]), ProbeOptions(min_rows=min_rows))
    return write_probe(result, out, store.meta)


def _prepare(options: PipelineOptions) -> list[Path]:
    options.data_dir.mkdir(parents=True, exist_ok=True)
    bitstamp = options.data_dir / "bitstamp.npz"
    if not bitstamp.exists():
        _cli(["data", "prepare", "--source", "bitstamp", "--out", str(bitstamp)])
    files = [bitstamp]
    if options.quick:
        return files
    for name, raw in BINANCE:
        paths = [BINANCE_DIR / r for r in raw]
        if not all(p.exists() for p in paths):
            log.warning("skipping %s: %s not present", name, BINANCE_DIR)
            continue
        out = options.data_dir / f"{name}.npz"
        if not out.exists():
            _cli(["data", "prepare", "--source", "binance", *map(str, paths), "--out", str(out)])
        files.append(out)
    return files


def run_pipeline(out: Path, options: PipelineOptions, cfg, command: str) -> dict:
    """prepare -> teacher features -> probe -> distill -> export; returns the bundle's manifest."""
    from export.bundle import export_bundle

    started = time.time()
    files = _prepare(options)
    store = options.store_dir()
    stride, limit = options.teacher_rows()
    selection = ["--stride", str(stride)] + (["--limit", str(limit)] if limit is not None else [])
    _cli(["teacher", "features", "--data", str(files[0]), "--out", str(store), *selection])
    probe_dir = options.work_dir / f"probe_{store.name}"  # beside the store, never inside it
    run_probe_stage(store, files[0], probe_dir, min_rows=3 if limit is not None and limit < 500 else 10)
    run_dir = options.work_dir / f"distill_{out.name}"
    distill_stage(
        files,
        store,
        probe_dir / "probe.json",
        run_dir,
        cfg,
        command,
        options.teacher_timing_snapshots if not options.quick else 1,
    )
    return export_bundle(run_dir, out, command, started)
