"""Template anatomy: the MNI152 2009a T1 template and tissue maps bundled in nilearn's wheel.

:func:`load_anatomy` loads the 1 mm ICBM152 2009a symmetric template, its GM/WM probability maps
and brain mask (``nilearn.datasets.load_mni152_*``, no network), pads the grid 24 mm downwards
to make room for a neck, resamples everything to the requested voxel size and precomputes what
every subject needs (cached once per process):

- CSF = brain mask - GM - WM; the ventricles (lateral, temporal horns, third, fourth) are the
  deep CSF of the central region; a smooth ventricle field whose gradient drives ageing
  expansion (:mod:`brainuad.synth.ageing`);
- the *exposure* of each GM voxel to sulcal/outer CSF, used for cortical thinning;
- distance outside the brain and depth inside a synthetic head envelope, for scalp and skull;
- candidate positions for white-matter lesions and tumour centres.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from brainuad.synth import headmodel
from brainuad.synth.fields import resample_to_spacing

PAD_BELOW_MM = 24
#: the ICBM152 2009 template was built from young adults (18-44 years; Fonov et al. 2011)
TEMPLATE_AGE = 25.0
VENT_SIGMAS_MM = (3.0, 10.0)  # two scales: widening + shape-keeping enlargement


@dataclass(frozen=True)
class Anatomy:
    """Template-space arrays on the working grid (world = MNI mm, RAS, axis-aligned)."""

    voxel_size: float
    shape: tuple[int, int, int]
    affine: np.ndarray
    brain: np.ndarray  # brain-mask fraction (binary at 1 mm)
    gm: np.ndarray
    wm: np.ndarray
    b_idx: np.ndarray  # flat indices of voxels with brain > 0
    t1_b: np.ndarray  # template T1 (0-1) at b_idx
    gm_b: np.ndarray
    wm_b: np.ndarray
    exposure_b: np.ndarray  # GM exposure to non-ventricular CSF, 0-1
    vent_dist_b: np.ndarray  # mm to the nearest ventricle voxel
    t1_levels: tuple[float, float, float]  # template T1 of CSF, GM, WM
    vent_box_origin: np.ndarray  # world mm of the gradient box corner
    vent_box: np.ndarray  # ventricle mask (float) in the gradient box
    vent_grad: np.ndarray  # (3, ...) gradient (1/mm) of the smoothed ventricle map, box only
    vent_volume_ml: float
    head: headmodel.HeadGeometry
    wmh_candidates: np.ndarray  # (N, 3) world mm, deep WM
    wmh_periventricular: np.ndarray  # (N,) bool
    tumour_candidates: np.ndarray  # (M, 3) world mm
    interior: np.ndarray  # smooth brain-interior weight (same grid), for damping mass effect
    brain_centre: np.ndarray  # world mm

    @property
    def n_voxels(self) -> int:
        return int(np.prod(self.shape))

    def world_to_index(self, points: np.ndarray) -> np.ndarray:
        """(3, ...) world mm -> (3, ...) fractional voxel indices of this grid."""
        origin = self.affine[:3, 3].reshape((3,) + (1,) * (points.ndim - 1))
        return (points - origin) / self.voxel_size


_NILEARN_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


def _load_template_images() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(data scaled to 0-1, affine) of the template, GM and WM maps shipped in nilearn's wheel.

    Reads the files directly (what ``nilearn.datasets.load_mni152_{,gm_,wm_}template(
    resolution=1)`` return, without importing nilearn's heavy dataset module); falls back to
    those functions if a nilearn release moves the files.
    """
    import importlib.util

    import nibabel as nib

    spec = importlib.util.find_spec("nilearn")
    roots = list(spec.submodule_search_locations or []) if spec else []
    paths = (
        {k: Path(roots[0], "datasets", "data", v) for k, v in _NILEARN_FILES.items()}
        if roots
        else {}
    )
    if paths and all(p.exists() for p in paths.values()):
        images = {k: nib.load(str(p)) for k, p in paths.items()}
    else:  # pragma: no cover - depends on the installed nilearn layout
        import warnings

        from nilearn import datasets

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            images = {
                "t1": datasets.load_mni152_template(resolution=1),
                "gm": datasets.load_mni152_gm_template(resolution=1),
                "wm": datasets.load_mni152_wm_template(resolution=1),
            }
    out = {}
    for key, img in images.items():
        data = np.asarray(img.dataobj, dtype=np.float32)
        out[key] = (data / data.max(), np.asarray(img.affine, dtype=np.float64))
    return out


@functools.lru_cache(maxsize=1)
def _template_1mm() -> tuple[np.ndarray, ...]:
    """The nilearn 1 mm template, GM, WM and brain mask, padded below; plus the affine."""
    images = _load_template_images()
    t1, t1_affine = images["t1"]
    gm, wm = images["gm"][0], images["wm"][0]
    brain = (t1 > 0.2).astype(np.float32)  # nilearn's own brain-mask rule
    pad = ((0, 0), (0, 0), (PAD_BELOW_MM, 0))
    affine = t1_affine.copy()
    affine[2, 3] -= PAD_BELOW_MM
    arrays = [np.pad(a * brain, pad) for a in (t1, gm, wm)]
    return (*arrays, np.pad(brain, pad), affine)


@functools.lru_cache(maxsize=2)
def load_anatomy(voxel_size: float = 1.0) -> Anatomy:
    """Template anatomy on a grid of ``voxel_size`` mm (cached per process)."""
    vs = float(voxel_size)
    t1, gm, wm, brain, affine1 = _template_1mm()
    if vs != 1.0:
        t1, gm, wm, brain = (resample_to_spacing(a, vs) for a in (t1, gm, wm, brain))
    shape = tuple(int(s) for s in brain.shape)
    affine = affine1.copy()
    affine[:3, :3] *= vs
    world = _world_axes(shape, affine)

    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    depth_in = _edt_in_box(brain > 0.5, vs, outside=False)
    vent = _ventricles(csf, depth_in, world, vs)
    vent_dist = _edt_in_box(~vent, vs, outside=True, box_of=brain > 0.5)

    outer = np.clip(1.0 - brain, 0, 1) + csf * (~vent)
    exposure = ndi.gaussian_filter(outer.astype(np.float32), 1.5 / vs)
    b_idx = np.flatnonzero(brain > 0)
    t1_b = t1.ravel()[b_idx]
    gm_b = gm.ravel()[b_idx]
    exposure_b = np.clip(exposure.ravel()[b_idx], 0, 1).astype(np.float32)

    levels = tuple(float(np.median(t1[sel])) for sel in ((csf > 0.8) & vent, gm > 0.9, wm > 0.9))

    vent_f = vent.astype(np.float32)
    vs_field = sum(0.5 * ndi.gaussian_filter(vent_f, s / vs) for s in VENT_SIGMAS_MM)
    lo, hi = _bbox(vs_field > 1e-3, margin=2)
    sub = vs_field[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    grad = np.stack(np.gradient(sub, vs)).astype(np.float32)
    box_origin = affine[:3, 3] + np.asarray(lo) * vs

    head = headmodel.build_head_geometry(brain, world, vs, affine)

    wm_sel = (wm > 0.85) & (depth_in > 6)
    step = max(1, int(round(2 / vs)))
    wmh_idx = np.flatnonzero(wm_sel.ravel())[::step]
    wmh_pts = _coords(wmh_idx, shape, affine)
    peri = vent_dist.ravel()[wmh_idx] < 12

    tum_sel = (
        (gm + wm > 0.9)
        & (depth_in > 14)
        & (vent_dist > 5)
        & (world[2] > -12)
        & (np.abs(world[0]) > 10)
    )
    tum_idx = np.flatnonzero(tum_sel.ravel())[:: max(1, int(round(3 / vs)))]
    interior = ndi.gaussian_filter((depth_in > 4).astype(np.float32), 3.0 / vs)
    total = float(brain.sum())
    centre = np.array([float((brain * w).sum()) / total for w in world])
    return Anatomy(
        voxel_size=vs,
        shape=shape,  # type: ignore[arg-type]
        affine=affine,
        brain=brain.astype(np.float32),
        gm=gm.astype(np.float32),
        wm=wm.astype(np.float32),
        b_idx=b_idx,
        t1_b=t1_b.astype(np.float32),
        gm_b=gm_b.astype(np.float32),
        wm_b=wm.ravel()[b_idx].astype(np.float32),
        exposure_b=exposure_b,
        vent_dist_b=vent_dist.ravel()[b_idx].astype(np.float32),
        t1_levels=levels,  # type: ignore[arg-type]
        vent_box_origin=box_origin,
        vent_box=vent[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].astype(np.float32),
        vent_grad=grad,
        vent_volume_ml=float(vent.sum() * vs**3 / 1000.0),
        head=head,
        wmh_candidates=wmh_pts,
        wmh_periventricular=peri,
        tumour_candidates=_coords(tum_idx, shape, affine),
        interior=interior.astype(np.float32),
        brain_centre=centre,
    )


def _ventricles(
    csf: np.ndarray, depth_in: np.ndarray, world: list[np.ndarray], vs: float
) -> np.ndarray:
    """Deep CSF of the central region: lateral ventricles, temporal horns, 3rd and 4th ventricle."""
    x, y, z = world
    deep = (csf > 0.5) & (depth_in > 10)
    midline = np.abs(x) < 3
    lateral = deep & (np.abs(x) < 32) & (y > -50) & (y < 30) & (z > -30) & (z < 32) & ~midline
    third = deep & midline & (y > -24) & (y < -2) & (z > -10) & (z < 10)
    fourth = deep & (np.abs(x) < 8) & (y > -52) & (y < -38) & (z > -44) & (z < -26)
    cand = lateral | third | fourth
    labels, n = ndi.label(cand)
    if n == 0:
        return cand
    sizes = ndi.sum_labels(cand, labels, index=np.arange(1, n + 1))
    keep = np.zeros(n + 1, bool)
    keep[1:] = sizes * vs**3 >= 40
    return keep[labels]


def _edt_in_box(
    mask: np.ndarray, vs: float, *, outside: bool, box_of: np.ndarray | None = None
) -> np.ndarray:
    """Distance (mm) to the nearest False voxel, computed only in the bounding box of ``box_of``
    (default ``mask``) plus a margin; voxels beyond the box get 0 (``outside=False``) or a large
    distance (``outside=True``).
    """
    lo, hi = _bbox(mask if box_of is None else box_of, margin=2)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    out = np.full(mask.shape, 1e3 if outside else 0.0, np.float32)
    out[box] = ndi.distance_transform_edt(mask[box]) * vs
    return out


def _world_axes(shape: tuple[int, ...], affine: np.ndarray) -> list[np.ndarray]:
    """Broadcastable world coordinate axes (x, y, z) in mm of an axis-aligned grid."""
    axes = []
    for k in range(3):
        v = affine[k, 3] + affine[k, k] * np.arange(shape[k], dtype=np.float32)
        sh = [1, 1, 1]
        sh[k] = shape[k]
        axes.append(v.reshape(sh).astype(np.float32))
    return axes


def _coords(flat_idx: np.ndarray, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    ijk = np.stack(np.unravel_index(flat_idx, shape), axis=1).astype(np.float64)
    return (ijk @ affine[:3, :3].T + affine[:3, 3]).astype(np.float32)


def _bbox(mask: np.ndarray, margin: int) -> tuple[list[int], list[int]]:
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - margin, 0)
    hi = np.minimum(idx.max(0) + 1 + margin, mask.shape)
    return lo.tolist(), hi.tolist()
