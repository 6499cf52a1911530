"""A tiny cohort that the whole study runs on in seconds (coarse 4 mm voxels, 16x19x16 model
input, no skull stripping/registration/N4/denoising)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

TINY_PREPROCESS = {
    "skull_strip": "none",
    "register": False,
    "n4": False,
    "denoise": False,
    "voxel_size": 4.0,
    "crop_shape": [40, 48, 40],
    "target_shape": [16, 19, 16],
}


def tiny_head(age: float, tumour: bool, rng: np.random.Generator) -> np.ndarray:
    """A 36x44x38 'brain' at 4 mm: an ellipsoid whose ventricle grows with age (+ a blob)."""
    return tiny_head_and_lesion(age, tumour, rng)[0]


def tiny_head_and_lesion(
    age: float, tumour: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tiny_head` and its lesion mask (the blob; empty without a tumour)."""
    shape = (36, 44, 38)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    r = np.sqrt(((grid / np.array([0.8, 0.85, 0.8])[:, None, None, None]) ** 2).sum(0))
    vol = np.where(r < 1, 0.7, 0.0) + 0.05 * rng.standard_normal(shape) * (r < 1)
    vent = np.sqrt((grid**2).sum(0)) < 0.1 + 0.25 * (age - 18) / 72
    vol[vent] = 0.25
    blob = np.zeros(shape, dtype=bool)
    if tumour:
        c = rng.uniform(-0.4, 0.4, 3)
        blob = np.sqrt(((grid - c[:, None, None, None]) ** 2).sum(0)) < 0.3
        vol[blob] = 1.0
    return np.clip(vol, 0, None).astype(np.float32), blob.astype(np.uint8)


def write_tiny_cohort(
    folder: Path, n_normal: int = 16, n_anomalous: int = 8, seed: int = 0, lesions: bool = False
) -> Path:
    """NIfTI files + manifest.csv of a tiny cohort; returns the manifest path.

    ``lesions=True`` adds a ``lesion_mask`` column (the anomalous subjects' blobs)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = [-72.0, -88.0, -76.0]
    lines = ["subject_id,image,age,label" + (",lesion_mask" if lesions else "")]
    for i in range(n_normal + n_anomalous):
        label = int(i >= n_normal)
        age = float(rng.uniform(20, 85))
        img = folder / f"sub-{i:03d}.nii.gz"
        vol, blob = tiny_head_and_lesion(age, bool(label), rng)
        nib.save(nib.Nifti1Image(vol, affine), str(img))
        row = f"sub-{i:03d},{img.name},{age:.1f},{label}"
        if lesions:
            les = folder / f"sub-{i:03d}_lesion.nii.gz"
            nib.save(nib.Nifti1Image(blob, affine), str(les))
            row += f",{les.name}" if label else ","
        lines.append(row)
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest
