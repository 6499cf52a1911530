"""Voxel grids, world transforms and the per-subject geometry that maps model space back.

Conventions: world coordinates are RAS+ millimetres (as in NIfTI/nibabel); an ``affine`` maps
voxel indices ``(i, j, k, 1)`` to world. A *reference-to-native* matrix ``T`` maps a point of the
reference (template) world to the same anatomical point in the subject's scanner world; without
registration it is the identity. All resampling here is *pull* resampling with
:func:`scipy.ndimage.affine_transform`: each output voxel is traced back to the input and
interpolated (linear ``order=1``, cubic B-spline ``order=3``, nearest ``order=0``); outside the
input is 0.

:class:`SubjectGeometry` records everything needed to move an array between the subject's
original scan grid and the model grid (:func:`to_model_space`, :func:`to_native_space`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.ndimage as ndi

Shape3 = tuple[int, int, int]
_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS (ITK) flip, its own inverse


@dataclass(frozen=True)
class Grid:
    """A 3D voxel grid: ``shape`` and the 4x4 voxel-to-world (RAS mm) ``affine``."""

    shape: Shape3
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along each array axis."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def centre(self) -> np.ndarray:
        """World coordinates of the grid's centre (mm)."""
        mid = (np.asarray(self.shape, dtype=np.float64) - 1.0) / 2.0
        return (self.affine @ np.r_[mid, 1.0])[:3]


def centred_grid(centre: np.ndarray, shape: Shape3, spacing: float) -> Grid:
    """An axis-aligned RAS grid of ``shape`` voxels of ``spacing`` mm centred on ``centre``."""
    shape = tuple(int(s) for s in shape)  # type: ignore[assignment]
    affine = np.diag([spacing, spacing, spacing, 1.0])
    mid = (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0
    affine[:3, 3] = np.asarray(centre, dtype=np.float64) - spacing * mid
    return Grid(shape, affine)


def resample(
    data: np.ndarray,
    affine: np.ndarray,
    grid: Grid,
    *,
    ref_to_native: np.ndarray | None = None,
    order: int = 1,
) -> np.ndarray:
    """Resample ``data`` (voxel-to-world ``affine``) onto ``grid`` in one interpolation.

    ``ref_to_native`` maps the grid's world to the data's world (identity when ``None``).
    """
    world = grid.affine if ref_to_native is None else ref_to_native @ grid.affine
    vox = np.linalg.inv(affine) @ world  # output voxel -> input voxel
    out = ndi.affine_transform(
        np.asarray(data, dtype=np.float32),
        vox[:3, :3],
        offset=vox[:3, 3],
        output_shape=tuple(grid.shape),
        order=order,
        mode="constant",
        cval=0.0,
        prefilter=order > 1,
    )
    return out.astype(np.float32, copy=False)


def ras_from_lps_matrix(matrix_lps: np.ndarray) -> np.ndarray:
    """Convert a 4x4 point transform in ITK's LPS world to the RAS world (and back)."""
    return _LPS @ np.asarray(matrix_lps, dtype=np.float64) @ _LPS


def sitk_transform_matrix(transform: Any) -> np.ndarray:
    """The 4x4 RAS matrix of any affine SimpleITK transform (composite ones included).

    SimpleITK transforms registered with a fixed (template) and moving (subject) image map a
    fixed-space point to the moving space, i.e. reference -> native.
    """
    pts = np.array([[0, 0, 0], [100, 0, 0], [0, 100, 0], [0, 0, 100]], dtype=np.float64)
    out = np.array([transform.TransformPoint(tuple(float(v) for v in p)) for p in pts])
    m = np.eye(4)
    m[:3, 3] = out[0]
    m[:3, :3] = (out[1:] - out[0]).T / 100.0
    return ras_from_lps_matrix(m)


@dataclass(frozen=True)
class SubjectGeometry:
    """How a subject's original scan relates to the model grid.

    ``native_shape``/``native_affine`` describe the file as stored (before any reorientation),
    ``ref_to_native`` maps reference (template) world to the subject's world, and
    ``model_shape``/``model_affine`` the model grid in reference world.
    """

    native_shape: Shape3
    native_affine: np.ndarray
    ref_to_native: np.ndarray
    model_shape: Shape3
    model_affine: np.ndarray

    @property
    def model_grid(self) -> Grid:
        return Grid(self.model_shape, self.model_affine)

    @property
    def native_grid(self) -> Grid:
        return Grid(self.native_shape, self.native_affine)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation (lists of floats)."""
        return {
            "native_shape": list(self.native_shape),
            "native_affine": np.asarray(self.native_affine).tolist(),
            "ref_to_native": np.asarray(self.ref_to_native).tolist(),
            "model_shape": list(self.model_shape),
            "model_affine": np.asarray(self.model_affine).tolist(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SubjectGeometry:
        return cls(
            native_shape=tuple(int(v) for v in values["native_shape"]),  # type: ignore[arg-type]
            native_affine=np.asarray(values["native_affine"], dtype=np.float64),
            ref_to_native=np.asarray(values["ref_to_native"], dtype=np.float64),
            model_shape=tuple(int(v) for v in values["model_shape"]),  # type: ignore[arg-type]
            model_affine=np.asarray(values["model_affine"], dtype=np.float64),
        )

    @classmethod
    def from_json(cls, text: str) -> SubjectGeometry:
        return cls.from_dict(json.loads(text))


def to_native_space(volume: np.ndarray, geometry: SubjectGeometry, *, order: int = 1) -> np.ndarray:
    """Resample a model-space array (e.g. an anomaly map) onto the subject's original scan grid.

    The result has ``geometry.native_shape`` and goes with ``geometry.native_affine`` (save it
    with that affine to overlay it on the input scan). Outside the model grid it is 0.
    """
    volume = np.asarray(volume)
    if volume.shape != tuple(geometry.model_shape):
        raise ValueError(
            f"to_native_space: expected a model-space array of shape {geometry.model_shape}, "
            f"found {volume.shape}"
        )
    native_to_ref = np.linalg.inv(geometry.ref_to_native)
    return resample(
        volume,
        geometry.model_affine,
        geometry.native_grid,
        ref_to_native=native_to_ref,
        order=order,
    )


def to_model_space(native: np.ndarray, geometry: SubjectGeometry, *, order: int = 1) -> np.ndarray:
    """Resample an array on the subject's original scan grid onto the model grid (no smoothing)."""
    native = np.asarray(native)
    if native.shape != tuple(geometry.native_shape):
        raise ValueError(
            f"to_model_space: expected an array of the scan's shape {geometry.native_shape}, "
            f"found {native.shape}"
        )
    return resample(
        native,
        geometry.native_affine,
        geometry.model_grid,
        ref_to_native=geometry.ref_to_native,
        order=order,
    )
