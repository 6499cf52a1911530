"""Lesion masks where they enter the pipeline: validation and the soft model-space fraction.

A lesion mask (manifest column ``lesion_mask``: a tumour segmentation, a synthetic lesion) is the
ground truth of the voxel-level evaluation (:mod:`brainuad.evaluation.voxel`). It is checked when
its subject is preprocessed (:func:`check_lesion_mask`); a bad mask makes the subject fail with a
one-line :class:`~brainuad.errors.InputFileError` naming the mask file (the subject is listed in
``errors.csv`` and nothing of it is written to the cache):

- **grid**: the mask must lie on its image's voxel grid (same shape, affines equal within
  ``GRID_ATOL_MM``); a mask on another grid was made for another image;
- **binary-like**: finite, non-negative, integer-valued labels, at most ``MAX_LABELS`` distinct
  values (BraTS' 0/1/2/4 passes; every label > 0 is lesion); a probability map or an intensity
  image given as a mask fails.

An anomalous subject whose mask is empty is not an input error here (the pipeline does not know
the label when it reads the file); the voxel evaluation warns and leaves such a subject out of
the voxel metrics (see :func:`brainuad.evaluation.voxel.ground_truth`).

In model space the mask is carried as the *fraction* of each coarse voxel covered by lesion
(linear interpolation onto the 1 mm crop, then the anti-aliased downsampling of the volume):
``lesion`` (uint8) is that fraction thresholded at 0.5, ``lesion_fraction`` keeps it in [0, 1],
stored as uint8 steps of 1/255 (``FRACTION_SCALE``), for soft metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brainuad.errors import InputFileError
from brainuad.io.nifti import Volume

GRID_ATOL_MM = 1e-3
MAX_LABELS = 16
FRACTION_SCALE = 255


def check_lesion_mask(lesion: Volume, image: Volume, path: str | Path) -> None:
    """Raise :class:`InputFileError` (naming ``path``) unless ``lesion`` is a mask of ``image``."""
    if lesion.shape != image.shape or not np.allclose(
        lesion.affine, image.affine, atol=GRID_ATOL_MM
    ):
        raise InputFileError(
            path,
            f"lesion mask must lie on its image's grid (shape {image.shape}, voxel size "
            f"{_mm(image)} mm), found shape {lesion.shape}, voxel size {_mm(lesion)} mm"
            + ("" if lesion.shape != image.shape else " and another affine"),
        )
    data = np.asarray(lesion.data)
    values = np.unique(data)
    integer = np.all(np.isfinite(values)) and np.all(np.abs(values - np.round(values)) < 1e-3)
    if not integer or values.size > MAX_LABELS or values.min() < 0:
        shown = ", ".join(f"{v:g}" for v in values[:4]) + (", ..." if values.size > 4 else "")
        raise InputFileError(
            path,
            f"lesion mask must be binary-like (non-negative integer labels, at most "
            f"{MAX_LABELS} values), found {values.size} distinct values ({shown})",
        )


def _mm(volume: Volume) -> str:
    return "x".join(f"{s:.3g}" for s in volume.spacing)


def quantise_fraction(fraction: np.ndarray) -> np.ndarray:
    """A [0, 1] lesion fraction as uint8 steps of ``1/FRACTION_SCALE`` (rounded)."""
    f = np.clip(np.asarray(fraction, dtype=np.float32), 0.0, 1.0)
    return np.round(f * FRACTION_SCALE).astype(np.uint8)


def fraction_from_stored(stored: np.ndarray) -> np.ndarray:
    """The float32 fraction in [0, 1] of a stored uint8 fraction."""
    return np.asarray(stored, dtype=np.float32) / np.float32(FRACTION_SCALE)
