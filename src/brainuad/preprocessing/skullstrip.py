"""Brain extraction: deepbet (CNN, offline), the subject's own mask, or none (already stripped).

* ``deepbet`` (Fisch et al. 2024, MIT): a 3D U-Net whose weights ship inside the PyPI wheel, so
  it runs offline. It first finds the brain's bounding box at 128^3, then segments that box
  resampled to ``shape``^3 (a multiple of 32; the wheel's default is 256, 192 gives Dice
  0.969-0.978 instead of 0.973-0.980 against true masks of 1 mm heads in half the time, see
  ``docs/benchmarks/preprocessing.md``), keeps the largest component and fills holes.
  Imported lazily; the model is loaded once per process.
* ``mask``: the manifest's ``mask`` column, resampled (world coordinates) onto the scan.
* ``none``: for skull-stripped data (e.g. BraTS): the brain is every voxel above
  ``threshold`` x the 99th percentile of the non-zero voxels, holes filled, largest component.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from brainuad.errors import ConfigError, InputFileError
from brainuad.io.nifti import load_volume
from brainuad.preprocessing.geometry import Grid, resample
from brainuad.preprocessing.steps import fill_holes, largest_component

DEEPBET_HINT = (
    "skull_strip 'deepbet' needs the deepbet package (pip install deepbet; its weights ship "
    "inside the wheel); or use skull_strip 'mask' (manifest mask column) or 'none'"
)


def deepbet_available() -> bool:
    """True when deepbet and its compiled helpers import."""
    try:
        _import_deepbet()
    except ConfigError:
        return False
    return True


def _import_deepbet() -> Any:
    try:
        from deepbet import BrainExtraction  # heavy and optional: imported lazily
    except ImportError as exc:
        raise ConfigError(f"{DEEPBET_HINT} ({exc})") from exc
    return BrainExtraction


@functools.lru_cache(maxsize=1)
def _deepbet_model() -> Any:
    brain_extraction = _import_deepbet()
    with warnings.catch_warnings():  # deepbet's TorchScript weights: torch.jit.load is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        return brain_extraction(no_gpu=True)


def deepbet_mask(data: np.ndarray, *, threshold: float = 0.5, shape: int = 192) -> np.ndarray:
    """Brain mask of a head (RAS+ array, about 1 mm voxels) predicted by deepbet.

    Raises ``RuntimeError`` when the network finds no brain.
    """
    import torch

    model = _deepbet_model()
    x = np.ascontiguousarray(data, dtype=np.float32)
    try:
        with torch.inference_mode():
            prob = model.run_model(x.copy(), shape=(shape, shape, shape))
        mask = model.postprocess(prob > threshold)
    except (ValueError, AssertionError, IndexError) as exc:
        raise RuntimeError(f"deepbet found no brain in the image ({exc})") from exc
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise RuntimeError("deepbet found no brain in the image (empty mask)")
    return mask


def deepbet_version() -> str | None:
    """The installed deepbet version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deepbet")
    except PackageNotFoundError:
        return None


#: affines closer than this (mm) count as the same grid
SAME_GRID_ATOL_MM = 1e-4


def mask_from_file(path: str | Path, grid: Grid) -> np.ndarray:
    """Load a brain-mask NIfTI and bring it onto ``grid`` (linear interpolation, > 0.5).

    Any non-zero voxel of the file counts as brain. Raises :class:`InputFileError` when the mask
    is empty or does not overlap the scan.
    """
    vol = load_volume(path, allow_constant=True)
    binary = (vol.data > 0).astype(np.float32)
    if not binary.any():
        raise InputFileError(path, "brain mask is empty (expected non-zero voxels on the brain)")
    same_grid = tuple(binary.shape) == tuple(grid.shape) and np.allclose(
        vol.affine, grid.affine, rtol=0, atol=SAME_GRID_ATOL_MM
    )
    # a mask stored on the scan's own grid (the usual case) needs no interpolation
    on_grid = binary > 0.5 if same_grid else resample(binary, vol.affine, grid, order=1) > 0.5
    if not on_grid.any():
        raise InputFileError(
            path, "brain mask does not overlap the image (check that both share one world space)"
        )
    return on_grid


def mask_from_nonzero(data: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Brain mask of an image that is already skull-stripped (background near 0)."""
    data = np.asarray(data)
    positive = data[data > 0]
    if positive.size == 0:
        raise RuntimeError("the image has no positive voxels: nothing to call brain")
    level = threshold * float(np.percentile(positive, 99.0))
    mask = largest_component(data > level)
    return fill_holes(mask)


def threshold_mask(values: np.ndarray) -> np.ndarray:
    """Binary mask from an interpolated 0/1 mask (the 0.5 level set)."""
    return np.asarray(values) > 0.5
