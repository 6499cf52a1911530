"""A synthetic head around the template brain: CSF rim, skull, scalp, face, neck and air.

The nilearn template is skull-stripped, so the head of a "raw" scan is built from geometry:
layers at a given distance outside the brain (CSF, inner table, diploe, outer table; roughly
5-8 mm of cranial vault as measured by Lynnerup et al. 2005), a scalp measured inwards from a
head envelope (skin, subcutaneous fat, galea/temporalis muscle), and below the brain a face and
neck of muscle marbled with fat, with eyes, orbital fat, sinuses and the spinal cord in its
canal. T1 intensities relative to white matter: fat and marrow bright, muscle and skin
intermediate, cortical bone and air dark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

GENERIC, CORD, VITREOUS, ORBIT_FAT, SINUS = 0, 1, 2, 3, 4
CRANIAL_MARGIN_MM = 17.0
TEMPORALIS_MM = 7.0
# (centre xyz mm, radii mm, label): structures of the face in MNI space
_STRUCTURES = (
    ((32.0, 54.0, -42.0), (16.0, 18.0, 14.0), ORBIT_FAT),
    ((-32.0, 54.0, -42.0), (16.0, 18.0, 14.0), ORBIT_FAT),
    ((32.0, 60.0, -42.0), (11.5, 11.5, 11.5), VITREOUS),
    ((-32.0, 60.0, -42.0), (11.5, 11.5, 11.5), VITREOUS),
    ((25.0, 48.0, -66.0), (12.0, 15.0, 14.0), SINUS),
    ((-25.0, 48.0, -66.0), (12.0, 15.0, 14.0), SINUS),
    ((7.0, 52.0, -58.0), (5.0, 16.0, 14.0), SINUS),  # nasal cavities, either side of the septum
    ((-7.0, 52.0, -58.0), (5.0, 16.0, 14.0), SINUS),
)


@dataclass(frozen=True)
class HeadGeometry:
    """Static head geometry on the working grid, stored for the head voxels only."""

    idx: np.ndarray  # flat indices of voxels outside the brain core inside the head
    d_out: np.ndarray  # mm outside the brain (and spinal cord)
    depth: np.ndarray  # mm inside the head envelope
    label: np.ndarray  # int8 structure label (GENERIC, CORD, VITREOUS, ORBIT_FAT, SINUS)
    brain_frac: np.ndarray  # brain-mask fraction at idx (0 outside the brain)


@dataclass(frozen=True)
class HeadTissues:
    """Per-subject head intensities (relative to white matter) and layer thicknesses (mm)."""

    csf: float
    bone: float
    marrow: float
    fat: float
    muscle: float
    skin: float
    csf_mm: float
    inner_table_mm: float
    diploe_mm: float
    outer_table_mm: float
    skin_mm: float
    fat_mm: float
    head_offset_mm: float
    fat_fraction: float


def build_head_geometry(
    brain: np.ndarray, world: list[np.ndarray], vs: float, affine: np.ndarray
) -> HeadGeometry:
    """Head envelope: brain dilated by 17 mm (more over the temples) + elliptic face/neck below."""
    x, y, z = world
    cord = ((x**2 + (y + 45.0) ** 2) < 5.5**2) & (z < -62)
    brain_like = (brain > 0.5) | cord
    d_out_full = ndi.distance_transform_edt(~brain_like) * vs
    # face and neck cross-section: ellipse whose size and centre vary with height
    zz = np.clip(z, -96.0, -8.0)
    frac = (zz + 8.0) / -88.0  # 0 at z=-8, 1 at z=-96
    rx = 75.0 - 12.0 * frac**2
    ry = 97.0 - 25.0 * frac**2
    yc = -12.0 - 16.0 * frac**2
    lower = (z < -4) & (((x / rx) ** 2 + ((y - yc) / ry) ** 2) <= 1.0)
    # temporalis muscles thicken the head over the temples
    temple = np.clip((np.abs(x) - 45.0) / 20.0, 0, 1) * np.exp(-(((z + 5.0) / 25.0) ** 2))
    temple = temple * np.exp(-(((y + 5.0) / 45.0) ** 2))
    env = (d_out_full < CRANIAL_MARGIN_MM + TEMPORALIS_MM * temple) | lower
    for centre, radii, _ in _STRUCTURES[:2]:  # the orbits, with eyelids in front
        r2 = sum(((w - c) / (r + 5.0)) ** 2 for w, c, r in zip(world, centre, radii, strict=True))
        env |= r2 <= 1.0
    env = ndi.gaussian_filter(env.astype(np.float32), 4.0 / vs) > 0.5
    depth_full = ndi.distance_transform_edt(env) * vs
    inside = env & (brain < 1.0)
    idx = np.flatnonzero(inside.ravel())
    label = np.zeros(brain.shape, np.int8)
    label[cord & (brain < 0.5)] = CORD
    for centre, radii, lab in _STRUCTURES:
        r2 = sum(((w - c) / r) ** 2 for w, c, r in zip(world, centre, radii, strict=True))
        label[(r2 <= 1.0) & (d_out_full > 6.0)] = lab
    return HeadGeometry(
        idx=idx,
        d_out=d_out_full.ravel()[idx].astype(np.float32),
        depth=depth_full.ravel()[idx].astype(np.float32),
        label=label.ravel()[idx],
        brain_frac=brain.ravel()[idx].astype(np.float32),
    )


def sample_head_tissues(rng: np.random.Generator, csf: float) -> HeadTissues:
    """Random head intensities and thicknesses for one subject."""
    u = rng.uniform
    return HeadTissues(
        csf=csf,
        bone=u(0.04, 0.12),
        marrow=u(0.45, 0.85),
        fat=u(0.9, 1.2),
        muscle=u(0.35, 0.5),
        skin=u(0.5, 0.7),
        csf_mm=u(1.5, 3.0),
        inner_table_mm=u(1.0, 2.0),
        diploe_mm=u(1.5, 4.0),
        outer_table_mm=u(1.0, 2.0),
        skin_mm=u(1.0, 2.0),
        fat_mm=u(3.0, 6.5),
        head_offset_mm=u(0.0, 2.5),
        fat_fraction=u(0.15, 0.35),
    )


def head_intensities(
    geom: HeadGeometry,
    tissues: HeadTissues,
    noise: np.ndarray,
    cord_level: float,
) -> np.ndarray:
    """Intensities at ``geom.idx``; ``noise`` is (3, N) unit-SD smooth noise at those voxels."""
    t = tissues
    e = geom.d_out + 1.0 * noise[0]
    dd = geom.depth - t.head_offset_mm + 1.5 * noise[1]
    bounds = np.cumsum([t.csf_mm, t.inner_table_mm, t.diploe_mm, t.outer_table_mm])
    marrow = t.marrow * (1.0 + 0.12 * noise[2])
    skull_lut = np.array([t.csf, t.bone, 0.0, t.bone], np.float32)
    layer = np.digitize(e, bounds).astype(np.int8)  # 0 csf, 1 bone, 2 marrow, 3 bone, 4 soft
    out = skull_lut[np.minimum(layer, 3)]
    np.copyto(out, marrow.astype(np.float32), where=layer == 2)

    # soft tissue beyond the skull: muscle marbled with fat below the brain, scalp near surface
    soft = layer == 4
    # thin sheets of fat between the muscles of face and neck, with soft edges
    marble = np.clip((t.fat_fraction - np.abs(noise[2])) / 0.1 + 0.5, 0.0, 1.0) * (e > 12.0)
    soft_val = (t.muscle + marble * (t.fat - t.muscle)).astype(np.float32)
    soft_val[dd < t.skin_mm + t.fat_mm] = t.fat
    soft_val[dd < t.skin_mm] = t.skin
    lab = geom.label
    soft_val[lab == ORBIT_FAT] = t.fat
    soft_val[lab == VITREOUS] = 0.85 * t.csf
    soft_val[lab == SINUS] = 0.02
    np.copyto(out, soft_val, where=soft)
    out[lab == CORD] = cord_level
    out[dd < 0] = 0.0
    return out
