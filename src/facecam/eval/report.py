"""Tables (Markdown, CSV) and bar charts (PNG) of benchmark summaries.

Columns follow the paper's tables in order. A column the paper has but we
cannot measure honestly (VBench dimensions that need weights) stays in its
place and shows "-", so our tables line up with the paper's; columns computed
by our own substitutes say "(ours)" in their header.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Optional, Sequence

from .._atomic import write_bytes_atomic, write_text_atomic

# (summary key, header) in the order of the paper's table 2; "{model}" is the identity model.
DYNAMIC_COLUMNS = (
    ("camera_correctness", "Camera Correctness"),
    ("identity_similarity", "Identity Similarity ({model})"),
    ("imaging_quality", "Imaging Quality"),
    ("aesthetic_quality", "Aesthetic Quality"),
    ("ours_subject_consistency", "Subject Consistency (ours)"),
    ("background_consistency", "Background Consistency"),
    ("ours_motion_smoothness", "Motion Smoothness (ours)"),
    ("ours_dynamic_degree", "Dynamic Degree (ours)"),
    ("ours_temporal_stability", "Temporal Stability (ours)"),
    ("paper_camera_correctness", "Direction Only (paper rule)"),
    ("rotation_error", "Rot. Err (deg)"),
    ("scale_error", "Scale Err (%)"),
    ("translation_error", "Trans. Err (% frame)"),
    ("artifact_excess", "Flat/Smear Excess (ours)"),
    ("failed", "Failed"),
    ("runs", "Runs"),
)
_COUNTS = ("runs", "failed", "face_missing_runs")
# Paper table 1.
STATIC_COLUMNS = (
    ("psnr", "PSNR"),
    ("ssim", "SSIM"),
    ("lpips", "LPIPS"),
    ("identity_similarity", "Identity Similarity ({model})"),
    ("runs", "Runs"),
)
_DIGITS = {"ssim": 4, "lpips": 4, "identity_similarity": 4}
_FRACTIONS = {"artifact_excess": 3}  # dynamic-table columns that are fractions, not percentages


def _fmt(key: str, value, percent: bool) -> str:
    if value is None:
        return "-"
    if key in _COUNTS:
        return str(int(value))
    if key in _FRACTIONS:
        return f"{value:.{_FRACTIONS[key]}f}"
    return f"{value:.{2 if percent else _DIGITS.get(key, 2)}f}"


def table_rows(summary: dict, columns: Sequence[tuple[str, str]], percent: bool,
               label_key: str = "Method") -> tuple[list[str], list[list[str]]]:
    """Header and rows (overall first, then per motion / subject when present) as strings."""
    model = summary.get("identity_model") or "none"
    header = [label_key] + [h.format(model=model) for _, h in columns]
    rows = [[summary["method"]] + [_fmt(k, summary["overall"].get(k), percent) for k, _ in columns]]
    for name, row in summary.get("per_motion", {}).items():
        rows.append([f"{summary['method']} / {name}"] + [_fmt(k, row.get(k), percent) for k, _ in columns])
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def bar_chart_png(title: str, panels: Sequence[tuple[str, Sequence[str], Sequence[Optional[float]], Optional[float]]],
                  path: Path) -> None:
    """One PNG with a bar panel per ``(ylabel, labels, values, ymax)``; missing values are left empty."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.75 * max(len(p[1]) for p in panels) + 2), 3.2 * len(panels)), dpi=110)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (ylabel, labels, values, ymax) in zip(axes, panels):
        heights = [0.0 if v is None else float(v) for v in values]
        bars = ax.bar(range(len(labels)), heights, color="#4477aa")
        for bar, v in zip(bars, values):
            ax.annotate("-" if v is None else f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}",
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        if ymax is not None:
            ax.set_ylim(0, ymax)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


NOTES_DYNAMIC = (
    "Camera Correctness: the strict judge (docs/evaluation.md): MediaPipe head pose on every 4th frame pair of "
    "input and output must follow the commanded course within tolerance, uncommanded components must stay put "
    "and the face must not vanish; a run that failed to render counts as wrong. Direction Only: the paper's "
    "rule (4.3), the sign of the change between the last frames. Rot./Scale/Trans. Err: mean absolute error "
    "against the commanded course over the judged frames (rotation: norm of the yaw, pitch, roll means; "
    "scale: |log size ratio| x100; translation: norm of the shift means, % of the frame), over scored runs. "
    "Identity similarity: cosine x100 of face embeddings, "
    "input vs output, from the model named in the header (the paper uses ArcFace; SFace values are not "
    "comparable to ArcFace values). Imaging, aesthetic and background columns need VBench's weights and are "
    "not measured (-). Columns marked (ours) are weight-free substitutes, not VBench."
)
NOTES_STATIC = (
    "Ava-256 static protocol (paper 4.2, supplement table 4): generated view vs the real target camera. "
    "PSNR/SSIM/LPIPS averaged over frames then pairs; LPIPS is '-' when its weights were not available. "
    "Identity similarity is the cosine of the two faces' embeddings (1 the same, near 0 or below unrelated) "
    "from the model named in the header."
)


def write_dynamic_report(summary: dict, out_dir: str | os.PathLike) -> dict[str, Path]:
    """``summary.md``, ``summary.csv`` and ``summary.png`` (correctness and scores per motion)."""
    out = Path(out_dir)
    header, rows = table_rows(summary, DYNAMIC_COLUMNS, percent=True)
    md = (f"# Dynamic camera benchmark: {summary['method']}\n\n" + markdown_table(header, rows)
          + f"\n{NOTES_DYNAMIC}\n")
    if summary.get("failure_reasons"):
        md += ("\nWhy runs were judged wrong (count of runs per kind):\n"
               + "".join(f"- {k}: {v}\n" for k, v in summary["failure_reasons"].items()))
    if summary.get("errors"):
        md += "\nFailed runs:\n" + "".join(f"- {e['run']}: {e['error']}\n" for e in summary["errors"])
    paths = {"md": out / "summary.md", "csv": out / "summary.csv", "png": out / "summary.png"}
    write_text_atomic(paths["md"], md)
    write_text_atomic(paths["csv"], csv_text(header, rows))
    overall = summary["overall"]
    bar_chart_png(f"{summary['method']}: dynamic camera benchmark ({overall['runs']} runs)", dynamic_panels(summary),
                  paths["png"])
    return paths


def dynamic_panels(summary: dict) -> list[tuple[str, list[str], list[Optional[float]], Optional[float]]]:
    """The dynamic chart's panels: correctness and identity per motion, the percentages overall, and the
    artifact excess per motion on its own axis (a fraction of the face box, not a percentage)."""
    motions = list(summary["per_motion"])
    per_motion = summary["per_motion"]
    panels = [
        ("Camera correctness (%)", motions, [per_motion[m]["camera_correctness"] for m in motions], 105.0),
        (f"Identity similarity x100 ({summary.get('identity_model') or 'none'})", motions,
         [per_motion[m]["identity_similarity"] for m in motions], 105.0),
    ]
    shown = [(k, h) for k, h in DYNAMIC_COLUMNS
             if k not in _COUNTS and k not in _FRACTIONS and not k.endswith("_error")]
    labels = [h.format(model=summary.get("identity_model") or "none") for _, h in shown]
    panels.append(("Overall (x100)", labels, [summary["overall"].get(k) for k, _ in shown], 105.0))
    excess = [per_motion[m].get("artifact_excess") for m in motions]
    if any(v is not None for v in excess):
        panels.append(("Flat/smear excess\n(face box fraction)", motions, excess, None))
    return panels


def write_static_report(summary: dict, out_dir: str | os.PathLike) -> dict[str, Path]:
    """``summary.md``, ``summary.csv`` and ``summary.png`` of the Ava-256 protocol."""
    out = Path(out_dir)
    header, rows = table_rows(summary, STATIC_COLUMNS, percent=False)
    md = f"# Static camera benchmark (Ava-256): {summary['method']}\n\n" + markdown_table(header, rows)
    md += f"\n{NOTES_STATIC}\n"
    if summary.get("missing"):
        md += f"\n{len(summary['missing'])} pairs had no target or generated video and were skipped.\n"
    if summary.get("errors"):
        md += "\nFailed pairs:\n" + "".join(f"- {e['run']}: {e['error']}\n" for e in summary["errors"])
    paths = {"md": out / "summary.md", "csv": out / "summary.csv", "png": out / "summary.png"}
    write_text_atomic(paths["md"], md)
    write_text_atomic(paths["csv"], csv_text(header, rows))
    subjects = list(summary.get("per_subject", {}))
    o = summary["overall"]
    panels = [
        ("PSNR (dB)", subjects, [summary["per_subject"][s]["psnr"] for s in subjects], None),
        ("SSIM", subjects, [summary["per_subject"][s]["ssim"] for s in subjects], 1.0),
        ("Overall", ["SSIM", "LPIPS", "Identity"], [o["ssim"], o["lpips"], o["identity_similarity"]], 1.0),
    ]
    bar_chart_png(f"{summary['method']}: Ava-256 static benchmark ({o['runs']} pairs)", panels, paths["png"])
    return paths
