"""Image figures: example slices (input, reconstruction, residual heat map)."""

from __future__ import annotations

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from brainuad.reports.artefacts import PLANES, ExampleSlices
from brainuad.reports.plots import ANOMALOUS_COLOR, NORMAL_COLOR
from brainuad.reports.tables import method_tex

PANELS = ("input", "reconstruction", "residual map")


def _window(image: np.ndarray, mask: np.ndarray | None) -> tuple[float, float]:
    inside = image[mask > 0] if mask is not None and (mask > 0).any() else image.ravel()
    inside = inside[np.isfinite(inside)]
    if inside.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(inside, [1, 99]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _subject_label(ex: ExampleSlices, k: int) -> tuple[str, str]:
    status = "anomalous" if int(ex.label[k]) == 1 else "normal"
    age = f"{ex.age[k]:.0f} y" if np.isfinite(ex.age[k]) else "age n/a"
    color = ANOMALOUS_COLOR if status == "anomalous" else NORMAL_COLOR
    return f"{ex.subject_id[k]}\n{status}, {age}", color


def _heat_rgba(res: np.ndarray, mask: np.ndarray, heat: ScalarMappable) -> np.ndarray:
    """Residual colours with opacity growing with the residual (0 outside the mask)."""
    level = np.clip(np.nan_to_num(heat.norm(res)), 0.0, 1.0)
    rgba = heat.to_rgba(res, norm=True)
    rgba[..., 3] = np.where(mask > 0, 0.95 * np.sqrt(level), 0.0)
    return rgba


def examples_figure(ex: ExampleSlices) -> Figure:
    """One row per example subject; per plane: input, reconstruction, residual on the input.

    The residual heat map shares one colour scale (0 to the 99.5th percentile of all residuals
    inside the masks) across subjects and planes, so normal and anomalous rows are comparable.
    A fixed grid layout (no constrained layout) keeps drawing fast.
    """
    planes = [p for p in PLANES if p in ex.planes]
    n_cols = len(planes) * len(PANELS)
    cell, left, right, top, bottom = 1.3, 1.35, 1.0, 0.75, 0.1  # inches
    width, height = left + cell * n_cols + right, top + cell * ex.n + bottom
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(
        ex.n,
        n_cols,
        squeeze=False,
        gridspec_kw={
            "left": left / width,
            "right": 1 - right / width,
            "top": 1 - top / height,
            "bottom": bottom / height,
            "wspace": 0.04,
            "hspace": 0.06,
        },
    )
    res_all = np.concatenate(
        [
            ex.planes[p]["residual"][ex.planes[p]["mask"] > 0]
            if "mask" in ex.planes[p]
            else ex.planes[p]["residual"].ravel()
            for p in planes
        ]
    )
    res_all = res_all[np.isfinite(res_all)]
    vmax = float(np.percentile(res_all, 99.5)) if res_all.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    heat = ScalarMappable(norm=Normalize(0.0, vmax), cmap="inferno")
    for k in range(ex.n):
        for j, plane in enumerate(planes):
            layers = ex.planes[plane]
            mask = layers.get("mask", np.ones_like(layers["input"]))[k]
            image, recon, res = layers["input"][k], layers["recon"][k], layers["residual"][k]
            lo, hi = _window(image, mask)
            cols = axes[k, j * len(PANELS) : (j + 1) * len(PANELS)]
            gray = {"cmap": "gray", "vmin": lo, "vmax": hi, "interpolation": "nearest"}
            cols[0].imshow(image, **gray)
            cols[1].imshow(recon, **gray)
            cols[2].imshow(image, **gray)
            cols[2].imshow(_heat_rgba(res, mask, heat), interpolation="nearest")
            if k == 0:
                for ax, panel in zip(cols, PANELS, strict=True):
                    ax.set_title(f"{panel}\n{plane}", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    for k in range(ex.n):
        text, color = _subject_label(ex, k)
        axes[k, 0].text(
            -0.08,
            0.5,
            text,
            transform=axes[k, 0].transAxes,
            fontsize=9,
            color=color,
            ha="right",
            va="center",
        )
    bar = fig.add_axes((1 - (right - 0.2) / width, 0.2, 0.12 / width, 0.6))
    fig.colorbar(heat, cax=bar, label="|input − reconstruction|")
    fig.suptitle(
        f"{method_tex(ex.method)}: example test subjects",
        fontsize=11,
        y=1 - 0.12 / height,
        va="top",
    )
    return fig
