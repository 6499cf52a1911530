"""Small synthetic heads for the preprocessing tests (imported by the test modules).

A phantom is an ellipsoidal "brain" (brighter white-matter core, two dark ventricles, a bright
marker blob in the right-anterior-superior quarter so that flips show) optionally wrapped in a
bright "skull" shell, on a coarse RAS grid, with seeded noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from brainuad.preprocessing import PreprocessConfig

BRAIN_CENTRE = np.array([2.0, -15.0, 8.0])
BRAIN_RADII = np.array([66.0, 80.0, 62.0])
MARKER_OFFSET = np.array([30.0, 40.0, 22.0])  # right, anterior, superior of the brain centre
MARKER_RADIUS = 12.0

# a small model grid: 40x48x42 voxels of 4 mm (160x192x168 mm), 2.5x down to 16x19x17
SMALL = dict(crop_shape=(40, 48, 42), target_shape=(16, 19, 17), voxel_size=4.0)


def small_config(**changes: object) -> PreprocessConfig:
    """A fast configuration on the small grid (no deepbet, no registration by default)."""
    values: dict[str, object] = dict(SMALL, skull_strip="none", register=False)
    values.update(changes)
    return PreprocessConfig(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Phantom:
    data: np.ndarray
    brain: np.ndarray
    marker: np.ndarray
    affine: np.ndarray


def make_phantom(
    *,
    shape: tuple[int, int, int] = (60, 68, 60),
    spacing: float = 3.0,
    skull: bool = False,
    seed: int = 0,
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Phantom:
    """A RAS phantom head; ``shift`` moves the head in world mm."""
    rng = np.random.default_rng(seed)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    centre_vox = (np.asarray(shape) - 1) / 2.0
    affine[:3, 3] = BRAIN_CENTRE - spacing * centre_vox
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1).T
    world = ijk * spacing + affine[:3, 3]
    rel = world - BRAIN_CENTRE - np.asarray(shift)
    r = np.sqrt(((rel / BRAIN_RADII) ** 2).sum(axis=1)).reshape(shape)
    brain = r <= 1.0
    data = np.where(brain, 0.55, 0.0)
    data = np.where(r <= 0.7, 0.8, data)  # white matter core
    for side in (-1.0, 1.0):
        v = rel - np.array([side * 12.0, 0.0, 10.0])
        vr = np.sqrt(((v / np.array([7.0, 25.0, 9.0])) ** 2).sum(axis=1)).reshape(shape)
        data = np.where(vr <= 1.0, 0.2, data)
    m = np.linalg.norm(rel - MARKER_OFFSET, axis=1).reshape(shape)
    marker = m <= MARKER_RADIUS
    data = np.where(marker, 1.0, data)
    if skull:
        data = np.where((r > 1.12) & (r <= 1.25), 0.9, data)  # bright scalp/skull shell
    data = data + rng.normal(0.0, 0.02, size=shape) * (data > 0)  # background stays 0
    data = np.clip(data, 0.0, None).astype(np.float32) * 1000.0
    return Phantom(data, brain, marker, affine)


def save(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    """Save an array as NIfTI (float32, or uint8 for boolean masks)."""
    arr = data.astype(np.uint8) if data.dtype == bool else data.astype(np.float32)
    nib.save(nib.Nifti1Image(arr, affine), str(path))
    return path


def reoriented(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same image stored as LPI with permuted axes (the world content is unchanged)."""
    img = nib.Nifti1Image(data, affine)
    target = nib.orientations.axcodes2ornt(("P", "I", "L"))
    current = nib.orientations.io_orientation(affine)
    transform = nib.orientations.ornt_transform(current, target)
    out = img.as_reoriented(transform)
    return np.asarray(out.dataobj), out.affine


def centroid_world(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of the centroid of a mask."""
    return (affine @ np.r_[np.argwhere(mask).mean(axis=0), 1.0])[:3]


def write_cohort(folder: Path, n: int, *, bad: bool = False, lesions: bool = False) -> Path:
    """Write ``n`` phantoms (+ one unreadable file) and a manifest; returns the manifest path."""
    rows = ["subject_id,image,age,label,lesion_mask" if lesions else "subject_id,image,age,label"]
    for i in range(n):
        ph = make_phantom(seed=i, shift=(2.0 * i, -1.5 * i, i))
        save(folder / f"sub{i}.nii.gz", ph.data, ph.affine)
        row = f"sub{i},sub{i}.nii.gz,{30 + 5 * i},0"
        if lesions:
            save(folder / f"sub{i}_lesion.nii.gz", ph.marker, ph.affine)
            row += f",sub{i}_lesion.nii.gz"
        rows.append(row)
    if bad:
        (folder / "broken.nii.gz").write_bytes(b"this is not a NIfTI file")
        rows.append("broken,broken.nii.gz,50,0" + ("," if lesions else ""))
    manifest = folder / "cohort.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return manifest


def crashing_task(task: object, config: object) -> dict:
    """A stand-in task function for the worker tests: kills its process for subject 'crash'."""
    import os

    sid = task.subject_id  # type: ignore[attr-defined]
    if sid == "crash":
        os._exit(3)
    if sid == "fail":
        return {"error": "ValueError: bad subject"}
    return {"meta": {"subject_id": sid, "pid": os.getpid()}, "error": None}


def cache_files(folder: Path) -> dict[str, bytes]:
    """Every file of a cache folder except the per-subject work files (zip archives that carry
    their own write time) and the lock file."""
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != ".brainuad.lock"
    }
