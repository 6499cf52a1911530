"""Loading and saving 3D scalar NIfTI volumes.

:func:`load_volume` returns float32 voxels in RAS+ canonical orientation together with the
matching affine and validates the file where it enters the program: a missing file, a file that
is not NIfTI (or a truncated gzip), 2D or multi-volume 4D data, complex or non-numeric voxels,
NaN/Inf, an all-constant image, a non-invertible affine or an implausible geometry (voxels
outside :data:`VOXEL_MM_RANGE`, more than :data:`MAX_VOXELS` voxels; checked from the header,
before any voxel is read) each raise
:class:`~brainuad.errors.InputFileError` with a one-line message that names the file.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from brainuad.errors import InputFileError
from brainuad.io.atomic import atomic_path

NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: plausible voxel edge lengths of an MRI scan, mm (thick clinical slices to ultra-high field)
VOXEL_MM_RANGE = (0.1, 20.0)
#: at most 2^28 voxels (512 x 512 x 1024; 1 GiB as float32): more is a broken header
MAX_VOXELS = 1 << 28


@dataclass(frozen=True)
class Volume:
    """A 3D scalar image: ``data[i, j, k]`` lies at ``affine @ (i, j, k, 1)`` in world mm."""

    data: np.ndarray
    affine: np.ndarray
    path: Path | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along each array axis."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]


def is_nifti_path(path: str | Path) -> bool:
    """True when the file name ends in ``.nii`` or ``.nii.gz``."""
    name = str(path).lower()
    return name.endswith(NIFTI_SUFFIXES)


def load_volume(
    path: str | Path,
    *,
    canonical: bool = True,
    allow_constant: bool = False,
    dtype: type = np.float32,
) -> Volume:
    """Load a 3D scalar NIfTI file as float32, reoriented to RAS+ (``canonical=True``).

    A trailing singleton 4th dimension (``X x Y x Z x 1``) is accepted and squeezed.
    ``allow_constant=True`` accepts all-constant images (e.g. empty masks).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "file not found (expected a NIfTI image, .nii or .nii.gz)")
    if path.is_dir():
        raise InputFileError(path, "is a folder, expected a NIfTI image file (.nii or .nii.gz)")
    try:
        img = nib.load(str(path))
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise InputFileError(path, f"truncated or corrupt gzip data ({exc})") from exc
    except Exception as exc:  # nibabel raises several types for unknown formats
        raise InputFileError(path, f"not a readable NIfTI image ({_one_line(exc)})") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputFileError(path, f"expected a NIfTI-1/2 image, found {type(img).__name__}")

    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        img = img.slicer[..., 0]
        shape = img.shape
    if len(shape) == 4:
        raise InputFileError(
            path, f"expected one 3D volume, found a 4D series of {shape[3]} volumes"
        )
    if len(shape) != 3:
        raise InputFileError(
            path, f"expected a 3D volume, found {len(shape)}D data of shape {shape}"
        )
    if min(shape) < 2:
        raise InputFileError(path, f"expected a 3D volume, found a single slice of shape {shape}")

    raw_dtype = img.get_data_dtype()
    if raw_dtype.names is not None or raw_dtype.kind not in "biuf":
        kind = "complex" if raw_dtype.kind == "c" else "non-numeric"
        raise InputFileError(path, f"expected real-valued voxels, found {kind} data ({raw_dtype})")

    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InputFileError(path, "affine is not invertible (zero or non-finite voxel axes)")
    check_plausible_geometry(path, tuple(int(n) for n in shape), affine)

    try:  # reorienting a non-RAS image reads the voxels: inside the same error handling
        if canonical:
            img = nib.as_closest_canonical(img)
            affine = np.asarray(img.affine, dtype=np.float64)
        data = np.asarray(img.dataobj, dtype=np.float64)
    except (gzip.BadGzipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InputFileError(path, f"truncated or corrupt image data ({_one_line(exc)})") from exc
    if not np.all(np.isfinite(data)):
        n_bad = int(np.count_nonzero(~np.isfinite(data)))
        raise InputFileError(path, f"expected finite intensities, found {n_bad} NaN/Inf voxels")
    if not allow_constant and float(data.max()) == float(data.min()):
        raise InputFileError(path, f"image is all-constant (every voxel = {float(data.min()):g})")
    return Volume(np.ascontiguousarray(data, dtype=dtype), affine, path)


def check_plausible_geometry(path: str | Path, shape: tuple[int, ...], affine: np.ndarray) -> None:
    """:class:`InputFileError` for an implausible voxel size or voxel count (header only)."""
    n_voxels = int(np.prod(np.asarray(shape, dtype=np.int64)))
    if n_voxels > MAX_VOXELS:
        raise InputFileError(
            path,
            f"implausible image size {'x'.join(map(str, shape))} ({n_voxels:.3g} voxels, at most "
            f"{MAX_VOXELS:.3g} expected): a broken header?",
        )
    spacing = np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3], axis=0)
    lo, hi = VOXEL_MM_RANGE
    if not np.all((spacing >= lo) & (spacing <= hi)):
        shown = " x ".join(f"{v:.4g}" for v in spacing)
        raise InputFileError(
            path, f"implausible voxel size {shown} mm (expected {lo:g}-{hi:g} mm per axis)"
        )


def save_volume(
    path: str | Path,
    data: np.ndarray,
    affine: np.ndarray,
    *,
    dtype: type | None = None,
) -> Path:
    """Save a 3D array as NIfTI with the given affine, atomically (temp file + rename).

    ``dtype`` defaults to the array's dtype (bool is stored as uint8).
    """
    path = Path(path)
    if not is_nifti_path(path):
        raise InputFileError(path, "output name must end in .nii or .nii.gz")
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise ValueError(f"save_volume expects a 3D array, got shape {arr.shape} for {path}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if dtype is not None:
        arr = arr.astype(dtype)
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got {affine.shape} for {path}")
    img = nib.Nifti1Image(arr, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
