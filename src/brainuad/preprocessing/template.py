"""The registration target: the MNI152 2009a (ICBM152 nonlinear symmetric) brain bundled in nilearn.

:func:`load_template` returns the same arrays as ``nilearn.datasets.load_mni152_template(
resolution=1)`` (T1 brain, skull removed, scaled to [0, 1]) and ``load_mni152_brain_mask(
resolution=1)`` (template > 0.2), read straight from nilearn's package data so that workers do
not pay for importing ``nilearn.datasets``; it falls back to those functions if the file moved.
Nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from brainuad.preprocessing.geometry import Grid

TEMPLATE_NAME = "MNI152 2009a symmetric, 1 mm, brain (nilearn)"
_TEMPLATE_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
MASK_THRESHOLD = 0.2  # nilearn's load_mni152_brain_mask default


@dataclass(frozen=True)
class Template:
    """Template T1 brain (float32 in [0, 1]), its brain mask and the voxel-to-world affine."""

    data: np.ndarray
    mask: np.ndarray
    affine: np.ndarray

    @property
    def grid(self) -> Grid:
        return Grid(tuple(int(s) for s in self.data.shape), self.affine)  # type: ignore[arg-type]

    @property
    def brain_centre(self) -> np.ndarray:
        """World coordinates (mm) of the centre of the brain mask's bounding box."""
        return bbox_centre(self.mask, self.affine)


def bbox_centre(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World coordinates of the centre of the bounding box of a non-empty mask."""
    idx = np.argwhere(mask)
    if idx.size == 0:
        raise ValueError("bbox_centre: empty mask")
    mid = (idx.min(axis=0) + idx.max(axis=0)) / 2.0
    return (np.asarray(affine) @ np.r_[mid, 1.0])[:3]


@functools.lru_cache(maxsize=1)
def load_template() -> Template:
    """The MNI152 brain template and mask (loaded once per process, read-only arrays)."""
    img = _load_image()
    data = np.asarray(img.dataobj, dtype=np.float32)
    data /= float(data.max())
    mask = data > MASK_THRESHOLD
    data.setflags(write=False)
    mask.setflags(write=False)
    return Template(data, mask, np.asarray(img.affine, dtype=np.float64))


def _load_image() -> nib.Nifti1Image:
    try:
        path = importlib.resources.files("nilearn") / "datasets" / "data" / _TEMPLATE_FILE
        with importlib.resources.as_file(path) as real:
            img = nib.load(str(real))
            img = nib.Nifti1Image(np.asarray(img.dataobj), img.affine, img.header)
        return img
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        from nilearn.datasets import load_mni152_template

        return load_mni152_template(resolution=1)


def template_versions() -> dict[str, str]:
    """Version strings of what defines the template (recorded in the cache)."""
    from importlib.metadata import version

    return {"template": TEMPLATE_NAME, "nilearn": version("nilearn")}
