"""Writing what ``brainuad predict`` reports: per-scan JSON, NIfTI map, PNG overview, CSV tables.

Per scan, in ``OUT_DIR`` (``<id>`` is the subject id with characters other than letters, digits,
``.``, ``_`` and ``-`` replaced by ``_``):

* ``<id>.json``: schema ``brainuad-prediction/1`` (see :func:`prediction_record`), written last;
* ``<id>_anomaly.nii.gz``: the anomaly map on the input scan's grid, with its affine (float32);
* ``<id>_overview.png``: axial, coronal and sagittal slices through the map's maximum, the map
  over the scan (display: neurological convention, subject's right on the right).

``predictions.csv`` holds one row per scan (rows of earlier runs into the same folder are kept,
a scan predicted again replaces its row) and ``errors.csv`` the scans that failed. Every file is
written atomically; a scan whose outputs cannot all be written leaves none of them.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainuad.bundle.load import Bundle
from brainuad.bundle.predict import ScanPrediction
from brainuad.bundle.reference import SCORE_NAMES
from brainuad.errors import InputFileError
from brainuad.io.atomic import atomic_path, write_bytes_atomic, write_json_atomic

SCHEMA = "brainuad-prediction/1"
PREDICTIONS_CSV = "predictions.csv"
ERRORS_CSV = "errors.csv"
SCORE_DESCRIPTIONS = {
    "rec": "L_rec: sum of |x - x~| over the brain voxels (reconstruction error)",
    "kl": "L_KL: KL divergence of the posterior q(z|x) from N(0, I)",
    "age": "L_age: |predicted brain age - chronological age| in years (age-head models)",
    "combined": "alpha * L_rec + beta * L_KL + gamma * L_age (paper eq. 3)",
}
_CSV_SCORE = {"rec": "rec", "kl": "kl", "age": "age_score", "combined": "combined"}


def safe_id(subject_id: str) -> str:
    """A file-name-safe version of a subject id."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", str(subject_id)).strip("._")
    return text or "scan"


def output_paths(out_dir: str | Path, subject_id: str) -> dict[str, Path]:
    """Where the files of one scan go."""
    out, sid = Path(out_dir), safe_id(subject_id)
    return {
        "json": out / f"{sid}.json",
        "anomaly_map": out / f"{sid}_anomaly.nii.gz",
        "overview": out / f"{sid}_overview.png",
    }


def prediction_record(
    pred: ScanPrediction, bundle: Bundle, files: dict[str, Path]
) -> dict[str, Any]:
    """The ``<id>.json`` document of one scan."""
    from brainuad import __version__

    scores = {}
    for name in SCORE_NAMES:
        entry: dict[str, Any] = {
            "value": pred.scores[name],
            "percentile": pred.percentiles[name],
            "description": SCORE_DESCRIPTIONS[name],
        }
        if name in pred.unavailable:
            entry["unavailable"] = pred.unavailable[name]
        scores[name] = entry
    points = {}
    for p in bundle.operating_points:
        points[p.name] = {"flagged": pred.flags[p.name], **p.to_dict()}
    brain_age = None
    if bundle.has_age_head:
        brain_age = {
            "predicted": pred.age_pred,
            "chronological": pred.age,
            "gap": pred.brain_age_gap,
            "gap_definition": "predicted - chronological (years)",
            "gap_corrected": pred.brain_age_gap_corrected,
            "gap_corrected_definition": (
                "predicted - (slope * chronological + intercept), the linear age bias fitted on "
                "the healthy validation subjects (years)"
            ),
            "bias_correction": (
                None if bundle.bias_correction is None else bundle.bias_correction.to_dict()
            ),
            "training_age_range": None if bundle.age_range is None else list(bundle.age_range),
        }
    return {
        "schema": SCHEMA,
        "subject_id": pred.subject_id,
        "image": str(pred.image),
        "age": pred.age,
        "model": {
            "bundle": str(bundle.root.resolve()),
            "method": bundle.method,
            "weights_sha256": bundle.record["weights"]["sha256"],
            "brainuad": __version__,
        },
        "scores": scores,
        "percentile_definition": bundle.record.get("reference", {}).get("percentile"),
        "combined_weights": bundle.weights.to_dict(),
        "operating_points": points,
        "brain_age": brain_age,
        "warnings": list(pred.warnings),
        "quality": pred.quality.to_dict(),
        "anomaly_map": _map_summary(pred, bundle),
        "files": {k: p.name for k, p in files.items()},
        "seconds": {k: round(v, 4) for k, v in pred.seconds.items()},
    }


def _map_summary(pred: ScanPrediction, bundle: Bundle) -> dict[str, Any] | None:
    amap = pred.anomaly_map
    if amap is None:
        return None
    ijk = np.unravel_index(int(np.argmax(amap)), amap.shape)
    world = pred.native_affine @ np.r_[np.asarray(ijk, dtype=np.float64), 1.0]
    return {
        "definition": "|x - x~| in the brain mask, Gaussian-smoothed in model space, resampled "
        "onto the input scan's grid",
        "sigma_model_voxels": bundle.map_sigma,
        "max": float(amap[ijk]),
        "max_voxel": [int(v) for v in ijk],
        "max_world_mm": [round(float(v), 2) for v in world[:3]],
    }


def csv_row(pred: ScanPrediction, files: dict[str, Path]) -> dict[str, Any]:
    """The ``predictions.csv`` row of one scan."""
    row: dict[str, Any] = {"subject_id": pred.subject_id, "image": str(pred.image), "age": pred.age}
    for name in SCORE_NAMES:
        row[_CSV_SCORE[name]] = pred.scores[name]
        row[f"{_CSV_SCORE[name]}_percentile"] = pred.percentiles[name]
    for name, flag in pred.flags.items():
        row[f"flag_{name}"] = None if flag is None else int(flag)
    row["age_pred"] = pred.age_pred
    row["brain_age_gap"] = pred.brain_age_gap
    row["brain_age_gap_corrected"] = pred.brain_age_gap_corrected
    row["quality_passed"] = int(pred.quality.passed)
    row["warnings"] = "; ".join(pred.warnings)
    row["json"] = files["json"].name
    return row


def write_scan(out_dir: str | Path, pred: ScanPrediction, bundle: Bundle) -> dict[str, Path]:
    """Write the three files of one scan (all or none); returns their paths."""
    from brainuad.io.nifti import save_volume

    files = output_paths(out_dir, pred.subject_id)
    if pred.anomaly_map is None:
        del files["anomaly_map"]
    png = overview_png(pred)
    record = prediction_record(pred, bundle, files)
    written: list[Path] = []
    try:
        if pred.anomaly_map is not None:
            save_volume(
                files["anomaly_map"], pred.anomaly_map.astype(np.float32), pred.native_affine
            )
            written.append(files["anomaly_map"])
        else:  # a map of an earlier run would contradict this one
            with contextlib.suppress(FileNotFoundError):
                output_paths(out_dir, pred.subject_id)["anomaly_map"].unlink()
        write_bytes_atomic(files["overview"], png)
        written.append(files["overview"])
        write_json_atomic(files["json"], record)
    except BaseException:
        for p in written:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        raise
    return files


def overview_png(pred: ScanPrediction) -> bytes:
    """PNG bytes: three orthogonal slices through the map's maximum, the map over the scan."""
    import nibabel as nib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    img = nib.as_closest_canonical(nib.load(str(pred.image)))
    scan = np.asarray(img.dataobj, dtype=np.float32).reshape(img.shape[:3])
    spacing = np.asarray(img.header.get_zooms()[:3], dtype=np.float64)
    amap = None
    if pred.anomaly_map is not None:
        amap = np.asarray(
            nib.as_closest_canonical(nib.Nifti1Image(pred.anomaly_map, pred.native_affine)).dataobj
        )
    if amap is not None and amap.max() > 0:
        focus = np.unravel_index(int(np.argmax(amap)), amap.shape)
    else:
        focus = tuple(s // 2 for s in scan.shape)
    positive = scan[scan > 0]
    lo, hi = np.percentile(positive, (1, 99.5)) if positive.size else (0.0, 1.0)
    fig = Figure(figsize=(12, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    i, j, k = (int(v) for v in focus)
    views = (
        ("axial", np.s_[:, :, k], (0, 1), ("R", "A")),
        ("coronal", np.s_[:, j, :], (0, 2), ("R", "S")),
        ("sagittal", np.s_[i, :, :], (1, 2), ("A", "S")),
    )
    shown = None
    top = float(amap.max()) if amap is not None else 0.0
    for ax, (name, sl, dims, _) in zip(axes, views, strict=True):
        extent = (
            0,
            scan.shape[dims[0]] * spacing[dims[0]],
            0,
            scan.shape[dims[1]] * spacing[dims[1]],
        )
        ax.imshow(scan[sl].T, cmap="gray", vmin=lo, vmax=hi, origin="lower", extent=extent)
        if amap is not None and top > 0:
            layer = np.ma.masked_less(amap[sl].T, 0.2 * top)
            shown = ax.imshow(
                layer, cmap="hot", vmin=0, vmax=top, alpha=0.65, origin="lower", extent=extent
            )
        ax.set_title(name, fontsize=10)
        ax.set_axis_off()
    axes[0].text(0.98, 0.02, "R", transform=axes[0].transAxes, color="w", ha="right")
    if shown is not None:
        fig.colorbar(shown, ax=list(axes), fraction=0.02, pad=0.01, label="anomaly map")
    fig.suptitle(_title(pred), fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _title(pred: ScanPrediction) -> str:
    parts = [pred.subject_id]
    c, pct = pred.scores["combined"], pred.percentiles["combined"]
    if c is not None:
        parts.append(
            f"combined {c:.4g}" + (f" ({pct:.0f}th percentile)" if pct is not None else "")
        )
        parts.append(
            "flagged at " + ", ".join(f"{n}: {'YES' if f else 'no'}" for n, f in pred.flags.items())
        )
    else:
        parts.append("combined score unavailable")
    if pred.age_pred is not None:
        gap = "" if pred.brain_age_gap is None else f" (gap {pred.brain_age_gap:+.1f})"
        parts.append(f"brain age {pred.age_pred:.1f}{gap}")
    if pred.anomaly_map is None:
        parts.append("no anomaly map")
    return "  |  ".join(parts)


def check_table(path: str | Path) -> None:
    """Raise :class:`InputFileError` if an existing table cannot be updated (before any work)."""
    path = Path(path)
    if not path.exists():
        return
    try:
        head = pd.read_csv(path, nrows=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"exists but is not a CSV table ({exc})") from exc
    if "subject_id" not in head.columns:
        raise InputFileError(path, "exists but has no subject_id column; choose another --out")


def update_table(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Merge ``rows`` into the CSV at ``path`` by ``subject_id`` (new rows win), atomically."""
    path = Path(path)
    new = pd.DataFrame(list(rows))
    if path.exists():
        check_table(path)
        old = pd.read_csv(path, dtype={"subject_id": str})
        if not new.empty:
            old = old[~old["subject_id"].isin(new["subject_id"].astype(str))]
        new = pd.concat([old, new], ignore_index=True) if not old.empty else new
    with atomic_path(path) as tmp:
        new.to_csv(tmp, index=False)
    return path


def write_errors(path: str | Path, failures: Sequence[tuple[str, str, str]]) -> Path:
    """``errors.csv``: ``subject_id, image, error`` of every scan that failed."""
    table = pd.DataFrame(list(failures), columns=["subject_id", "image", "error"])
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)
