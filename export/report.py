"""`report.md` and `training_curves.png` for a bundle: fidelity, forecast error, inference time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lob.targets import TASKS  # noqa: E402

CURVES = "training_curves.png"
MODEL_LABELS = {
    "cmm_hajek": "CMM (Hájek-MoE gate)",
    "cmm_uniform": "ablation: uniform mean",
    "cmm_softmax": "ablation: learned softmax gate",
    "label_only": "label-only student",
    "single_distilled": "single distilled student",
    "teacher": "teacher (ridge heads on LM features)",
}


def plot_curves(history: dict[str, list[dict]], path: Path) -> Path:
    phases = [k for k, v in history.items() if v]
    fig, axes = plt.subplots(1, len(phases), figsize=(4 * len(phases), 3.2), squeeze=False)
    for ax, phase in zip(axes[0], phases, strict=True):
        steps = [h["step"] for h in history[phase]]
        for key in history[phase][0]:
            if key != "step":
                ax.plot(steps, [h[key] for h in history[phase]], label=key)
        ax.set_title(phase)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _fmt(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or x != x else f"{x:.{digits}g}"


def forecast_table(models: dict[str, dict]) -> list[str]:
    head = "| model | " + " | ".join(f"{t} MAE | {t} dir. acc." for t in TASKS) + " |"
    lines = [head, "|" + " --- |" * (1 + 2 * len(TASKS))]
    for key, metrics in models.items():
        cells = [f"{_fmt(metrics[t]['mae'])} | {_fmt(metrics[t]['dir_acc'], 3)}" for t in TASKS]
        lines.append(f"| {MODEL_LABELS.get(key, key)} | " + " | ".join(cells) + " |")
    return lines


def student_table(manifest: dict) -> list[str]:
    fidelity = manifest["evaluation"]["fidelity"]["students"]
    lines = [
        "| student | task | regime | teacher layers | params | fidelity R² (test rows with teacher features) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, (s, f) in enumerate(zip(manifest["students"], fidelity, strict=True)):
        lo, hi = s["layers"]
        lines.append(f"| {i} | {s['task']} | {s['regime'] or 'all'} | {lo}-{hi} | {s['params']} | {_fmt(f['r2'], 3)} |")
    return lines


def timing_lines(manifest: dict) -> list[str]:
    ev = manifest["evaluation"]
    lines = ["| model | how | p50 | p99 |", "| --- | --- | --- | --- |"]
    for key, lat in ev["ort_latency_us"].items():
        lines.append(
            f"| {key} | ONNX Runtime, batch 1, tuned session, {lat['count']} calls | "
            f"{lat['p50_us']} us | {lat['p99_us']} us |"
        )
    teacher = ev.get("teacher_timing")
    if teacher:
        lines.append(f"| teacher | {teacher['how']} | {teacher['seconds_per_snapshot'] * 1e6:.0f} us (mean) | |")
        if "optimised_seconds_per_snapshot" in teacher:
            lines.append(
                f"| teacher | optimised (prefix KV cache, batch {teacher['batch']}), mean per snapshot | "
                f"{teacher['optimised_seconds_per_snapshot'] * 1e6:.0f} us | |"
            )
    else:
        lines.append("| teacher | not timed in this run | | |")
    return lines


def dataset_sections(manifest: dict) -> list[str]:
    """The forecast table per input dataset (pooled MAE mixes tick sizes: 1 USD on Bitstamp, 0.01 on Binance)."""
    lines = ["## Forecast error per dataset (test rows)", ""]
    for index, models in manifest["evaluation"].get("models_by_dataset", {}).items():
        data = manifest["data"][int(index)]
        n = next(iter(models.values()))["mid_change"]["n"]
        lines += [f"### {data['name']} ({n} test rows)", "", *forecast_table(models), ""]
    return lines


def write_report(out: Path, run, manifest: dict) -> Path:
    ev = manifest["evaluation"]
    plot_curves(run.history, out / CURVES)
    subset = ev["models_on_teacher_rows"]
    lines = [
        f"# Bundle `{manifest['name']}` (version {manifest['version']})",
        "",
        f"Built {manifest['created']} from commit `{manifest['git_commit']}` in {manifest['build_seconds']} s by "
        f"`{manifest['command']}`. Horizon {manifest['horizon']} steps of {manifest['grid_ms']} ms; "
        f"instruments {', '.join(manifest['instruments'])}; teacher {manifest['teacher'].get('name')}.",
        "",
        "## Students and their fidelity to the teacher slice",
        "Fidelity: R² of the student's adapter output against the standardised mean PCA features of its layer group "
        "(all dimensions pooled).",
        "",
        *student_table(manifest),
        "",
        f"Gate: {manifest['gate']}",
        "",
        f"## Forecast error on all {ev['test_rows']} test rows",
        "MAE in target units (ticks; log1p volume). Direction against the no-change reference "
        "(0 mid change, the current spread, the training median log volume); rows without a move are left out.",
        "",
        *forecast_table(ev["models"]),
        "",
        *dataset_sections(manifest),
        f"## Forecast error on the {ev['test_rows_with_teacher']} test rows that have teacher features",
        "",
        *forecast_table(subset),
        "",
    ]
    if "mixture_vs_teacher" in ev["fidelity"]:
        lines += [
            "## Mixture vs teacher forecast (same rows)",
            "",
            "| task | MAE | correlation |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {t} | {_fmt(v['mae'])} | {_fmt(v['corr'], 3)} |"
            for t, v in ev["fidelity"]["mixture_vs_teacher"].items()
        ]
        lines.append("")
    diffs = [d for c in ev["ort_parity"].values() for d in c["diffs"].values()]
    worst_abs, worst_f32 = max(d["max_abs"] for d in diffs), max(d["float32_error"] for d in diffs)
    lines += [
        "## Inference time per snapshot (measured in the same run)",
        "",
        *timing_lines(manifest),
        "",
        f"ONNX Runtime vs torch over {ev['ort_parity']['cmm']['rows']} real test rows, every output of every graph: "
        f"largest absolute difference {worst_abs:.2e} (torch float32 vs float64 on the same rows: up to "
        f"{worst_f32:.2e}). CMM graph: {ev['ort_parity']['cmm']['nodes']} nodes.",
        "",
        "## Training curves",
        "",
        f"![training curves]({CURVES})",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
