"""A PNG montage of a few subjects of a cohort (sagittal, coronal, axial slices) to look at.

Works on any manifest (synthetic or not): subjects are chosen deterministically (normal ones
spread over the age range, then anomalous ones), shown in RAS orientation with mm aspect;
anomalous subjects are cut through the centre of their lesion, outlined in red.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brainuad.errors import ConfigError
from brainuad.io.atomic import atomic_path
from brainuad.io.manifest import Subject, read_cohort
from brainuad.io.nifti import load_volume


def choose_subjects(subjects: list[Subject], n: int) -> list[Subject]:
    """Up to ``n`` subjects: about two thirds normal (spread over age), the rest anomalous."""
    normal = sorted((s for s in subjects if s.label == 0), key=lambda s: (s.age or 0, s.subject_id))
    anomalous = [s for s in subjects if s.label == 1]
    n_anom = min(len(anomalous), max(n // 3, n - len(normal)))
    n_norm = min(len(normal), n - n_anom)
    picks = (
        [normal[int(i)] for i in np.unique(np.linspace(0, len(normal) - 1, n_norm).round())]
        if n_norm
        else []
    )
    return picks + anomalous[:n_anom]


def save_preview(manifest: str | Path, out_png: str | Path, n: int = 6) -> Path:
    """Write a montage of ``n`` subjects of the cohort at ``manifest`` to ``out_png``."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    if n < 1:
        raise ConfigError(f"preview needs at least 1 subject, found n={n}")
    out_png = Path(out_png)
    if out_png.suffix.lower() != ".png":
        raise ConfigError(f"{out_png}: preview file name must end in .png")
    cohort = read_cohort(manifest, require_age=False)
    chosen = choose_subjects(list(cohort), n)
    fig = Figure(figsize=(3.2 * len(chosen), 9.6), facecolor="black")
    axes = fig.subplots(3, len(chosen), squeeze=False)
    for col, subj in enumerate(chosen):
        vol = load_volume(subj.image)
        lesion = (
            load_volume(subj.lesion_mask, allow_constant=True).data > 0.5
            if subj.lesion_mask
            else None
        )
        centre = _slice_centre(vol.data, lesion)
        spacing = vol.spacing
        vmax = float(np.percentile(vol.data[vol.data > np.percentile(vol.data, 60)], 99.5))
        views = (
            (vol.data[centre[0]], (spacing[1], spacing[2]), 0),
            (vol.data[:, centre[1]], (spacing[0], spacing[2]), 1),
            (vol.data[:, :, centre[2]], (spacing[0], spacing[1]), 2),
        )
        for row, (sl, (dx, dy), axis) in enumerate(views):
            ax = axes[row, col]
            extent = (0, sl.shape[0] * dx, 0, sl.shape[1] * dy)
            ax.imshow(
                sl.T,
                origin="lower",
                cmap="gray",
                vmin=0,
                vmax=vmax,
                extent=extent,
                interpolation="nearest",
            )
            if lesion is not None:
                m = np.take(lesion, centre[axis], axis=axis)
                if m.any():
                    ax.contour(
                        m.T.astype(float),
                        [0.5],
                        colors="red",
                        linewidths=0.7,
                        extent=extent,
                        origin="lower",
                    )
            ax.set_axis_off()
        kind = "anomalous" if subj.label == 1 else "normal"
        age = "?" if subj.age is None else f"{subj.age:g}"
        axes[0, col].set_title(f"{subj.subject_id}\n{kind}, age {age}", color="white", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=80, facecolor="black")
    return out_png


def _slice_centre(data: np.ndarray, lesion: np.ndarray | None) -> tuple[int, int, int]:
    """Lesion centroid if any, else the centroid of the bright (head) voxels, raised a little."""
    if lesion is not None and lesion.any():
        return tuple(int(round(c)) for c in np.argwhere(lesion).mean(axis=0))  # type: ignore[return-value]
    fg = np.argwhere(data > np.percentile(data, 75))
    c = fg.mean(axis=0)
    c[2] = min(c[2] + 0.08 * data.shape[2], data.shape[2] - 1)
    return tuple(int(round(v)) for v in c)  # type: ignore[return-value]
