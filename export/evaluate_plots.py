"""Evaluation plots: equity and inventory over the test episodes, and PnL/MAP with bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from export.evaluate import StrategyResult


def equity_and_inventory(runs: dict[str, StrategyResult], path: Path) -> None:
    """One row per strategy: equity and inventory over the test episodes laid end to end (each starts flat)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 2, figsize=(12, 1.6 * len(runs) + 1), sharex=True, squeeze=False)
    for (name, run), (ax_eq, ax_q) in zip(runs.items(), axes, strict=True):
        carried = np.concatenate([[0.0], np.cumsum([r.epnl for r in run.results])[:-1]])
        ax_eq.plot(np.concatenate([r.equity + c for r, c in zip(run.results, carried, strict=True)]), lw=0.8)
        ax_q.plot(np.concatenate([r.inventory for r in run.results]), lw=0.8, color="tab:orange")
        starts = np.cumsum([0] + [len(r.equity) for r in run.results][:-1])
        for ax in (ax_eq, ax_q):
            for s in starts:
                ax.axvline(s, color="grey", ls=":", lw=0.5)
            ax.tick_params(labelsize=7)
        ax_eq.set_ylabel(name, fontsize=8)
    axes[0, 0].set_title("cumulative PnL (quote currency, mark to mid)", fontsize=9)
    axes[0, 1].set_title("inventory (base units)", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("test step (episodes end to end; dotted: episode start)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def pnl_map_bars(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["strategies"])
    value = np.array([report["strategies"][n]["summary"]["pnl_map"] for n in names], np.float64)
    ci = np.array([report["strategies"][n]["pnl_map_ci"] for n in names], np.float64)
    err = np.abs(np.vstack([value - ci[:, 0], ci[:, 1] - value]))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(names, np.nan_to_num(value), yerr=np.nan_to_num(err), capsize=3, color="tab:blue")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("PnL / MAP (ratio of means, 95% bootstrap)")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(report: dict, runs: dict[str, StrategyResult], directory: Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "equity_inventory.png", directory / "pnl_map.png"]
    equity_and_inventory(runs, paths[0])
    pnl_map_bars(report, paths[1])
    return paths
