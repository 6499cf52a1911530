"""Quality control of a preprocessed cohort: flags per subject and a PNG montage of mid-slices.

Per-subject measurements are made by :func:`~brainuad.preprocessing.subject.preprocess_subject`
(``skull_strip_path``, ``input_skull_stripped``, ``brain_volume_ml``, ``reg_similarity``,
``reg_mask_dice``, ``reg_volume_ratio``, ``crop_brain_fraction``, intensity percentiles, seconds
per step). :func:`qc_flags` turns them into
reasons a person should look at a scan, and :func:`write_montage` draws the axial, coronal and
sagittal mid-slices of every subject in one image (several pages for large cohorts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainuad.io.atomic import atomic_path

MIN_CROP_FRACTION = 0.98  # less means part of the brain fell outside the crop grid
#: a "brain" below a decilitre (a newborn's is about 400 ml) is not a brain scan: QC failure
MIN_BRAIN_ML = 100.0
TILES_PER_ROW = 4
TILES_PER_PAGE = 160
QC_COLUMNS = (
    "skull_strip_path",
    "input_skull_stripped",
    "input_zero_fraction",
    "brain_volume_ml",
    "reg_similarity",
    "reg_mask_dice",
    "reg_volume_ratio",
    "reg_ok",
    "crop_brain_fraction",
    "raw_low",
    "raw_high",
    "p01",
    "p50",
    "p99",
)


def qc_flags(qc: Mapping[str, Any]) -> list[str]:
    """Reasons to inspect a subject (empty when nothing looks wrong)."""
    flags = []
    if not bool(qc.get("reg_ok", True)):
        flags.append(
            f"registration similarity {float(qc.get('reg_similarity', float('nan'))):.2f} "
            f"(volume ratio {float(qc.get('reg_volume_ratio', float('nan'))):.2f})"
        )
    fraction = float(qc.get("crop_brain_fraction", 1.0))
    if math.isfinite(fraction) and fraction < MIN_CROP_FRACTION:
        flags.append(f"only {100 * fraction:.1f}% of the brain inside the crop grid")
    return flags


def mid_slices(volume: np.ndarray) -> np.ndarray:
    """Axial, coronal and sagittal mid-slices of a RAS volume side by side (display orientation).

    Each view is shown with anterior (axial) or superior (coronal, sagittal) up and the subject's
    right on the right of the axial and coronal views (neurological convention).
    """
    x, y, z = (s // 2 for s in volume.shape)
    views = [volume[:, :, z].T, volume[:, y, :].T, volume[x, :, :].T]
    height = max(v.shape[0] for v in views)
    padded = []
    for v in views:
        pad = height - v.shape[0]
        v = np.flipud(v)  # row 0 at the top = highest index (anterior/superior)
        padded.append(np.pad(v, ((pad // 2, pad - pad // 2), (1, 1))))
    return np.concatenate(padded, axis=1)


def write_montage(
    volumes: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    *,
    flagged: Sequence[bool] | None = None,
    per_page: int = TILES_PER_PAGE,
) -> list[Path]:
    """Write PNG montage page(s) of mid-slices; returns the files (``path``, ``path-2``, ...).

    Flagged subjects have their label drawn in red.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    n = len(labels)
    flagged = list(flagged) if flagged is not None else [False] * n
    paths = []
    for page, start in enumerate(range(0, n, per_page)):
        stop = min(start + per_page, n)
        tiles = [mid_slices(np.asarray(volumes[i], dtype=np.float32)) for i in range(start, stop)]
        th, tw = tiles[0].shape
        th_label = th + 12  # room for the label
        cols = min(TILES_PER_ROW, len(tiles))
        rows = math.ceil(len(tiles) / cols)
        mosaic = np.zeros((rows * th_label, cols * tw), dtype=np.float32)
        for k, tile in enumerate(tiles):
            r, c = divmod(k, cols)
            mosaic[r * th_label + 12 : (r + 1) * th_label, c * tw : (c + 1) * tw] = tile
        scale = 2.0
        fig = Figure(
            figsize=(mosaic.shape[1] * scale / 100, mosaic.shape[0] * scale / 100), dpi=100
        )
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_axis_off()
        for k in range(len(tiles)):
            r, c = divmod(k, cols)
            i = start + k
            ax.text(
                c * tw + 2,
                r * th_label + 10,
                labels[i],
                fontsize=7,
                color="red" if flagged[i] else "yellow",
            )
        target = path if page == 0 else path.with_name(f"{path.stem}-{page + 1}{path.suffix}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png")
        paths.append(target)
    return paths


def summarise_steps(qcs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Median seconds per step (``t_*`` entries) over the given subjects."""
    keys = list(dict.fromkeys(k for qc in qcs for k in qc if k.startswith("t_")))  # step order
    return {k[2:]: float(np.median([float(qc[k]) for qc in qcs if k in qc])) for k in keys}
