"""Is a scan already skull-stripped? (:func:`check_skull_stripped`, used by ``skull_strip: auto``).

Public tumour data (BraTS) ships brain-only images with the background set to exactly 0, while
healthy cohorts such as IXI ship heads with skull, scalp and noisy air. Processing the two kinds
differently without noticing is how a detector ends up separating "skull-stripped or not" instead
of healthy from diseased anatomy, so the pipeline records for every scan what it was given and
which skull-stripping path it took.

The check, on the scan's own voxels (no interpolation), sampled every ~2 mm:

1. *foreground*: voxels above 10 % of the 99th percentile of the non-zero voxels, largest
   connected component, holes filled — the brain of a stripped image, the head of a raw one;
2. *background*: voxels more than ``margin_mm`` (10 mm) away from the foreground; the fraction
   of them that are **exactly 0** is ``zero_fraction``. Air around a real head is noise (Rician
   magnitude, rarely exactly 0); the background of a stripped image is exactly 0 everywhere;
3. the scan is called skull-stripped when ``zero_fraction >= min_zero_fraction`` (0.95) **and**
   the foreground is brain-sized (``<= max_brain_ml``, 2500 mL: adult brains measure about
   1000-1900 mL, heads 3000 mL and more), so that a head whose air was zeroed by the
   scanner or a converter is not mistaken for a brain.

When there is too little background to judge (the foreground fills the field of view), the scan
is treated as a head with skull.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from brainuad.preprocessing.steps import fill_holes, largest_component

FOREGROUND_LEVEL = 0.10  # x the 99th percentile of the non-zero voxels
SAMPLE_MM = 2.0
MARGIN_MM = 10.0
MIN_ZERO_FRACTION = 0.95
MAX_BRAIN_ML = 2500.0
MIN_BACKGROUND_FRACTION = 0.05  # of the sampled field of view


@dataclass(frozen=True)
class StripCheck:
    """Outcome of :func:`check_skull_stripped`.

    ``stripped``: the scan is brain-only with an exactly-zero background. ``zero_fraction``: the
    share of background voxels (> ``margin_mm`` from the foreground) that are exactly 0 (NaN when
    there is no background to measure). ``foreground_ml``: volume of the largest bright
    component (a brain or a head). ``reason``: one line saying why.
    """

    stripped: bool
    zero_fraction: float
    foreground_ml: float
    reason: str


def check_skull_stripped(
    data: np.ndarray,
    spacing: tuple[float, float, float] | np.ndarray,
    *,
    margin_mm: float = MARGIN_MM,
    min_zero_fraction: float = MIN_ZERO_FRACTION,
    max_brain_ml: float = MAX_BRAIN_ML,
) -> StripCheck:
    """Decide whether ``data`` (a 3D scan with voxel ``spacing`` in mm) is already skull-stripped.

    Works on the stored voxels (any orientation), sampled every ~2 mm with strides, so exact
    zeros stay exact; costs about 0.1-0.3 s for a 1 mm head.
    """
    spacing = np.abs(np.asarray(spacing, dtype=np.float64))
    steps = [max(1, int(round(SAMPLE_MM / s))) for s in spacing]
    sub = np.asarray(data)[:: steps[0], :: steps[1], :: steps[2]]
    voxel = spacing * np.asarray(steps)
    voxel_ml = float(np.prod(voxel)) / 1000.0
    nonzero = sub[sub != 0]
    if nonzero.size == 0:
        return StripCheck(False, float("nan"), 0.0, "the image is empty (all voxels 0)")
    positive = nonzero[nonzero > 0]
    top = float(np.percentile(positive, 99.0)) if positive.size else 0.0
    if top <= 0:
        return StripCheck(False, float("nan"), 0.0, "no positive intensities to find a brain")
    foreground = fill_holes(largest_component(sub > FOREGROUND_LEVEL * top))
    foreground_ml = float(foreground.sum()) * voxel_ml
    distance = ndi.distance_transform_edt(~foreground, sampling=voxel)
    background = distance > margin_mm
    n_background = int(background.sum())
    if n_background < MIN_BACKGROUND_FRACTION * sub.size:
        return StripCheck(
            False,
            float("nan"),
            foreground_ml,
            f"too little background around the foreground to judge ({n_background} voxels)",
        )
    zero_fraction = float(np.mean(sub[background] == 0))
    if zero_fraction < min_zero_fraction:
        reason = (
            f"background is not zero ({100 * zero_fraction:.1f}% of it exactly 0): "
            "a head with skull"
        )
        return StripCheck(False, zero_fraction, foreground_ml, reason)
    if foreground_ml > max_brain_ml:
        reason = (
            f"zero background but the foreground measures {foreground_ml:.0f} mL "
            f"(> {max_brain_ml:.0f} mL): a head whose air was zeroed"
        )
        return StripCheck(False, zero_fraction, foreground_ml, reason)
    reason = (
        f"background exactly 0 ({100 * zero_fraction:.1f}%) around a brain-sized foreground "
        f"({foreground_ml:.0f} mL)"
    )
    return StripCheck(True, zero_fraction, foreground_ml, reason)
