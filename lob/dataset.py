"""The canonical order-book dataset: record dtypes, validation, and the on-disk format.

Every reader returns a `Dataset`; everything downstream reads only this.

On disk (`.npz`, written by `save`, read by `load`; see README "Canonical dataset format"):
    ts_ns    (N,)   int64    end of each grid step, ns since the Unix epoch
    bid_px   (N, L) int64    bid prices in ticks, level 0 best, strictly decreasing
    bid_sz   (N, L) float64  bid sizes in base units (0 = level absent)
    ask_px   (N, L) int64    ask prices in ticks, level 0 best, strictly increasing
    ask_sz   (N, L) float64
    trades   (M,)   TRADE_DTYPE, sorted by time
    meta     0-d str         JSON: symbol, venue, tick, grid_ns, has_trades, sources, cleaning report
An absent level (the book is shallower than L) has size 0 and a price one tick beyond the
level before it, so prices stay strictly monotone and features need no special case.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
DEFAULT_LEVELS = 10
DEFAULT_GRID_MS = 100

BUY = 1  # aggressor bought (lifted the ask)
SELL = -1  # aggressor sold (hit the bid)
TRADE_DTYPE = np.dtype([("ts_ns", "<i8"), ("px", "<i8"), ("sz", "<f8"), ("side", "i1")])


@dataclass(frozen=True)
class Dataset:
    symbol: str
    venue: str
    tick: float
    grid_ns: int
    ts_ns: np.ndarray
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray
    trades: np.ndarray
    has_trades: bool = True
    sources: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ts_ns)

    @property
    def levels(self) -> int:
        return self.bid_px.shape[1]

    def mid_ticks(self) -> np.ndarray:
        """Mid price in ticks (may be a half tick), shape (N,)."""
        return (self.bid_px[:, 0] + self.ask_px[:, 0]) / 2.0

    def spread_ticks(self) -> np.ndarray:
        return (self.ask_px[:, 0] - self.bid_px[:, 0]).astype(np.float64)

    def meta(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "symbol": self.symbol,
            "venue": self.venue,
            "tick": self.tick,
            "grid_ns": self.grid_ns,
            "has_trades": self.has_trades,
            "sources": self.sources,
            "report": self.report,
        }

    def validate(self) -> Dataset:
        """Raise ValueError naming the first broken invariant; return self when sound."""
        n, levels = self.bid_px.shape
        arrays = {"bid_px": self.bid_px, "bid_sz": self.bid_sz, "ask_px": self.ask_px, "ask_sz": self.ask_sz}
        for name, a in arrays.items():
            if a.shape != (n, levels):
                raise ValueError(f"{name} has shape {a.shape}, expected {(n, levels)}")
        if self.ts_ns.shape != (n,):
            raise ValueError(f"ts_ns has shape {self.ts_ns.shape}, expected {(n,)}")
        if not self.tick > 0:
            raise ValueError(f"tick must be positive, got {self.tick}")
        checks = [
            ("timestamps not strictly increasing", np.diff(self.ts_ns) <= 0, 1),
            ("crossed or locked book (best bid >= best ask)", self.bid_px[:, 0] >= self.ask_px[:, 0], 0),
            ("bid prices not strictly decreasing across levels", np.diff(self.bid_px, axis=1) >= 0, 0),
            ("ask prices not strictly increasing across levels", np.diff(self.ask_px, axis=1) <= 0, 0),
            (
                "negative or non-finite size",
                ~(np.isfinite(self.bid_sz) & (self.bid_sz >= 0)) | ~(np.isfinite(self.ask_sz) & (self.ask_sz >= 0)),
                0,
            ),
            ("empty best level", (self.bid_sz[:, 0] <= 0) | (self.ask_sz[:, 0] <= 0), 0),
        ]
        for what, bad, offset in checks:
            rows = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1)) if bad.size else []
            if len(rows):
                raise ValueError(f"{self.symbol}: {what} at snapshot {rows[0] + offset} ({len(rows)} rows)")
        if self.trades.dtype != TRADE_DTYPE:
            raise ValueError(f"trades dtype {self.trades.dtype} is not {TRADE_DTYPE}")
        if len(self.trades) and np.any(np.diff(self.trades["ts_ns"]) < 0):
            raise ValueError(f"{self.symbol}: trades not sorted by time")
        return self


def pad_levels(px: np.ndarray, sz: np.ndarray, levels: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad one side's (px, sz) lists (best first) to `levels` with one-tick steps and size 0.

    `side` is +1 for bids (prices fall with depth) and -1 for asks.
    """
    out_px = np.empty(levels, np.int64)
    out_sz = np.zeros(levels, np.float64)
    k = min(len(px), levels)
    out_px[:k] = px[:k]
    out_sz[:k] = sz[:k]
    if k < levels:
        last = out_px[k - 1] if k else 0
        out_px[k:] = last - side * np.arange(1, levels - k + 1)
    return out_px, out_sz


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_entry(path: str | Path) -> dict:
    p = Path(path)
    return {"path": str(p), "name": p.name, "sha256": file_sha256(p), "bytes": p.stat().st_size}


def content_hash(ds: Dataset) -> str:
    """A hash of the dataset's contents (not its file), used as a cache key downstream."""
    h = hashlib.sha256()
    for a in (ds.ts_ns, ds.bid_px, ds.bid_sz, ds.ask_px, ds.ask_sz, ds.trades):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps([ds.symbol, ds.venue, ds.tick, ds.grid_ns]).encode())
    return h.hexdigest()[:16]


def save(ds: Dataset, path: str | Path) -> None:
    """Validate, then write atomically: nothing half-written is ever left at `path`."""
    ds.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f,
                ts_ns=ds.ts_ns,
                bid_px=ds.bid_px,
                bid_sz=ds.bid_sz,
                ask_px=ds.ask_px,
                ask_sz=ds.ask_sz,
                trades=ds.trades,
                meta=np.array(json.dumps(ds.meta())),
            )
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path: str | Path) -> Dataset:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such dataset (make one with `cmm data prepare`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in ("ts_ns", "bid_px", "bid_sz", "ask_px", "ask_sz", "trades")}
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a canonical dataset ({err})") from err
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {meta.get('format_version')}, expected {FORMAT_VERSION}")
    return Dataset(
        symbol=meta["symbol"],
        venue=meta["venue"],
        tick=float(meta["tick"]),
        grid_ns=int(meta["grid_ns"]),
        has_trades=bool(meta["has_trades"]),
        sources=meta["sources"],
        report=meta["report"],
        **arrays,
    ).validate()
