"""The individual image operations of the pipeline, each a pure function of numpy arrays.

* :func:`isotropic_grid` / :func:`resample` (from :mod:`.geometry`): 1 mm isotropic resampling.
* :func:`n4_correct`: N4 bias-field correction (SimpleITK) inside the brain mask, estimated on an
  image shrunk by ``shrink`` and applied at full resolution.
* :func:`denoise`: curvature-flow denoising (SimpleITK ``CurvatureFlow``), as in the
  comparative-study pipelines the paper follows.
* :func:`standardise`: map the ``(low, high)`` intensity percentiles inside the mask to 0 and 1,
  clip to [0, 1], background 0.
* :func:`downsample`: anti-aliased downsampling (Gaussian prefilter whose FWHM makes up the
  difference between the two voxel sizes, then linear interpolation at the new voxel centres).

All of them work on the bounding box of the brain to save time and are deterministic.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

from brainuad.preprocessing.geometry import Grid, resample

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
MIN_N4_VOXELS = 12


def isotropic_grid(shape: tuple[int, int, int], affine: np.ndarray, spacing: float) -> Grid:
    """A grid of ``spacing`` mm voxels covering the same field of view as ``(shape, affine)``.

    The axes keep their direction (no flips, no rotation), only the voxel size changes.
    """
    old = np.linalg.norm(affine[:3, :3], axis=0)
    extent = np.asarray(shape, dtype=np.float64) * old
    new_shape = tuple(max(1, int(round(e / spacing))) for e in extent)
    directions = affine[:3, :3] / old
    new_affine = np.eye(4)
    new_affine[:3, :3] = directions * spacing
    # keep the field of view's outer corner: voxel -0.5 of the old grid == voxel -0.5 of the new
    corner = affine[:3, :3] @ np.full(3, -0.5) + affine[:3, 3]
    new_affine[:3, 3] = corner - new_affine[:3, :3] @ np.full(3, -0.5)
    return Grid(new_shape, new_affine)  # type: ignore[arg-type]


def is_isotropic(affine: np.ndarray, spacing: float, tolerance: float) -> bool:
    """True when every voxel axis is ``spacing`` mm within a relative ``tolerance``."""
    sizes = np.linalg.norm(affine[:3, :3], axis=0)
    return bool(np.all(np.abs(sizes - spacing) <= tolerance * spacing))


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice, slice]:
    """Slices of the bounding box of a non-empty mask, grown by ``margin`` voxels (clipped)."""
    idx = np.argwhere(mask)
    if idx.size == 0:
        raise ValueError("bounding_box: empty mask")
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + 1 + margin, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


@contextlib.contextmanager
def itk_single_thread() -> Iterator[None]:
    """Run ITK filters on one thread (bit-for-bit reproducible sums); restores the setting."""
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def _to_sitk(array: np.ndarray, spacing: float) -> sitk.Image:
    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    img.SetSpacing((spacing, spacing, spacing))
    return img


def n4_correct(
    data: np.ndarray,
    mask: np.ndarray,
    *,
    spacing: float = 1.0,
    shrink: int = 4,
    iterations: tuple[int, ...] = (20, 20, 10),
) -> np.ndarray:
    """N4 bias-field correction of ``data`` inside ``mask``; the background is left unchanged.

    The field is fitted on the brain's bounding box shrunk ``shrink`` times (fewer when the box
    would be under 12 voxels wide; one fitting level per entry of ``iterations``) and evaluated
    on the full-resolution grid.
    """
    box = bounding_box(mask, margin=2 * shrink)
    # keep at least MIN_N4_VOXELS voxels per axis after shrinking (matters for tiny test grids)
    shrink = max(1, min(shrink, min(b.stop - b.start for b in box) // MIN_N4_VOXELS))
    sub = np.asarray(data[box], dtype=np.float32)
    sub_mask = mask[box]
    inside = sub[sub_mask]
    floor = max(float(np.percentile(inside, 0.1)), 1e-3 * float(inside.max()), 1e-6)
    positive = np.where(sub_mask, np.maximum(sub, floor), floor).astype(np.float32)
    image = _to_sitk(positive, spacing)
    mask_img = _to_sitk(sub_mask.astype(np.uint8), spacing)
    small = sitk.Shrink(image, [shrink] * 3) if shrink > 1 else image
    small_mask = sitk.Shrink(mask_img, [shrink] * 3) if shrink > 1 else mask_img
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([int(i) for i in iterations])
    with itk_single_thread():  # deterministic, and workers already use every core
        n4.Execute(small, small_mask)
        log_field = sitk.GetArrayFromImage(n4.GetLogBiasFieldAsImage(image))
    corrected = np.asarray(data, dtype=np.float32).copy()
    corrected[box] = np.where(sub_mask, sub / np.exp(log_field), sub)
    return corrected


def denoise(
    data: np.ndarray,
    mask: np.ndarray,
    *,
    spacing: float = 1.0,
    iterations: int = 3,
    time_step: float = 0.0625,
) -> np.ndarray:
    """Curvature-flow denoising of the brain (edge preserving); the background is unchanged."""
    box = bounding_box(mask, margin=2)
    sub = np.asarray(data[box], dtype=np.float32)
    f = sitk.CurvatureFlowImageFilter()
    f.SetNumberOfIterations(int(iterations))
    f.SetTimeStep(float(time_step))
    with itk_single_thread():
        smooth = sitk.GetArrayFromImage(f.Execute(_to_sitk(sub, spacing)))
    out = np.asarray(data, dtype=np.float32).copy()
    out[box] = np.where(mask[box], smooth, sub)
    return out


def standardise(
    data: np.ndarray, mask: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.0)
) -> tuple[np.ndarray, tuple[float, float]]:
    """Map the intensity percentiles inside ``mask`` to [0, 1] (clipped); background 0.

    Returns the standardised float32 array and the two intensities that were mapped to 0 and 1.
    """
    inside = np.asarray(data)[mask]
    if inside.size == 0:
        raise ValueError("standardise: empty brain mask")
    lo, hi = (float(v) for v in np.percentile(inside, percentiles))
    if not hi > lo:
        raise ValueError(
            f"standardise: brain intensities are constant between percentiles {percentiles} "
            f"({lo:g}); is the image empty inside the mask?"
        )
    out = (np.asarray(data, dtype=np.float32) - lo) / (hi - lo)
    np.clip(out, 0.0, 1.0, out=out)
    out[~mask] = 0.0
    return out, (lo, hi)


def antialias_sigma(factor: float) -> float:
    """Gaussian sigma (in input voxels) for downsampling by ``factor``.

    Its FWHM is ``sqrt(factor**2 - 1)`` input voxels, the blur that makes a 1-voxel sampling
    kernel as wide as a ``factor``-voxel one.
    """
    return math.sqrt(max(factor * factor - 1.0, 0.0)) / FWHM_PER_SIGMA


def downsample(data: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Anti-aliased resampling of ``data`` on ``source`` onto the coarser grid ``target``.

    Both grids live in the same world; the prefilter uses the ratio of their voxel sizes.
    """
    factors = np.asarray(target.spacing) / np.asarray(source.spacing)
    sigmas = [antialias_sigma(float(f)) for f in factors]
    smooth = ndi.gaussian_filter(np.asarray(data, dtype=np.float32), sigmas, mode="constant")
    return resample(smooth, source.affine, target, order=1)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 6-connected component of a boolean mask (empty stays empty)."""
    labels, n = ndi.label(mask)
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(sizes.argmax())


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed holes of a boolean mask (on its bounding box, for speed)."""
    if not mask.any():
        return mask.astype(bool)
    box = bounding_box(mask, margin=1)
    out = mask.astype(bool).copy()
    out[box] = ndi.binary_fill_holes(out[box])
    return out
