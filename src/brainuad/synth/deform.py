"""Per-subject spatial variation: head size, pose, smooth deformation, ventricles, mass effect.

Every output voxel x is mapped backwards to a template point

    q = V( c0 + M^-1 (x - d_tumour(x) - c0 - t) + u(x - d_tumour(x)) )

with M = rotation x per-axis scale (head size, MNI brains are ~7 % larger than native ones),
t a translation, u a smooth random displacement (1-2.5 mm, ~25 mm correlation), d_tumour the
mass effect of a tumour and V the ventricle-enlarging flow of ageing. The map is evaluated on a
lattice of ~2 mm and upsampled trilinearly; the volumes are then warped once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from brainuad.synth.ageing import AgeingEffects, ventricle_flow
from brainuad.synth.anatomy import Anatomy
from brainuad.synth.fields import coarse_shape, smooth_noise, upsample
from brainuad.synth.tumour import TumourSpec, mass_effect

#: native brains are smaller than the MNI152 template (intracranial volume ~1.5 L vs ~1.9 L)
MEAN_HEAD_SCALE = 0.93


@dataclass(frozen=True)
class SubjectTransform:
    """Similarity transform (template -> subject) plus a smooth backward displacement lattice."""

    centre: np.ndarray  # template brain centre c0 (mm)
    matrix: np.ndarray  # 3x3, rotation x scale
    translation: np.ndarray  # mm
    deformation: np.ndarray  # (3, *lattice) mm, on the output lattice (every `factor` voxels)
    factor: int

    @property
    def scale(self) -> float:
        """Mean linear scale (cube root of the determinant)."""
        return float(abs(np.linalg.det(self.matrix)) ** (1 / 3))

    def to_output(self, point: np.ndarray) -> np.ndarray:
        """Template point (3,) -> output world point, ignoring the small deformation."""
        return self.centre + self.translation + self.matrix @ (np.asarray(point) - self.centre)

    def to_template(self, points: np.ndarray, deformation: np.ndarray) -> np.ndarray:
        """Output world points (3, N) -> template points, with displacement (3, N) added."""
        inv = np.linalg.inv(self.matrix).astype(np.float32)
        c = self.centre.reshape(3, 1).astype(np.float32)
        t = self.translation.reshape(3, 1).astype(np.float32)
        return c + inv @ (points - c - t) + deformation


def sample_transform(rng: np.random.Generator, anat: Anatomy) -> SubjectTransform:
    """Random head size (scale 0.93 x exp(N(0, 0.04)) per axis jitter 2.5 %), pose and warp."""
    vs = anat.voxel_size
    factor = max(1, int(round(2.0 / vs)))
    scale = MEAN_HEAD_SCALE * math.exp(0.04 * rng.standard_normal())
    scales = scale * np.exp(0.025 * rng.standard_normal(3))
    angles = np.deg2rad(rng.uniform(-1.0, 1.0, 3) * np.array([6.0, 4.0, 4.0]))
    matrix = _rotation(angles) @ np.diag(scales)
    translation = np.clip(rng.normal(0.0, 3.0, 3), -8.0, 8.0)
    lattice = coarse_shape(anat.shape, factor)
    amplitude = rng.uniform(1.0, 2.5)
    field = smooth_noise(rng, lattice, 12.0 / (factor * vs), channels=3) * amplitude
    return SubjectTransform(anat.brain_centre.copy(), matrix, translation, field, factor)


def sampling_coords(
    anat: Anatomy,
    transform: SubjectTransform,
    ageing: AgeingEffects,
    tumour: TumourSpec | None = None,
) -> np.ndarray:
    """Template voxel indices (3, *anat.shape) to sample for every output voxel."""
    f = transform.factor
    lattice = transform.deformation.shape[1:]
    origin = anat.affine[:3, 3].reshape(3, 1).astype(np.float32)
    step = np.float32(anat.voxel_size * f)
    pts = np.indices(lattice, dtype=np.float32).reshape(3, -1) * step + origin
    u = transform.deformation.reshape(3, -1)
    q = transform.to_template(pts, u)
    if tumour is not None:
        damp = ndi.map_coordinates(anat.interior, anat.world_to_index(q), order=1, mode="nearest")
        moved = pts - mass_effect(pts, tumour) * damp
        lat_idx = (moved - origin) / step
        u_moved = np.stack(
            [
                ndi.map_coordinates(transform.deformation[k], lat_idx, order=1, mode="nearest")
                for k in range(3)
            ]
        )
        q = transform.to_template(moved, u_moved)
    if ageing.vent_strength != 0:
        box_hi = anat.vent_box_origin + (np.array(anat.vent_box.shape) - 1) * anat.voxel_size
        inside = np.all(
            (q >= anat.vent_box_origin.reshape(3, 1) - 2) & (q <= box_hi.reshape(3, 1) + 2), axis=0
        )
        q[:, inside] = ventricle_flow(q[:, inside], anat, ageing.vent_strength)
    idx = anat.world_to_index(q).reshape(3, *lattice)
    return upsample(idx, anat.shape, f)


def _rotation(angles: np.ndarray) -> np.ndarray:
    """Rotation matrix from angles (rad) about x, y, z, applied in that order."""
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx
