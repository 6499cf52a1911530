"""Shared fixtures: tiny NIfTI volumes and manifests written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

# keep the suite light on the 2-core CI machine
torch.set_num_threads(1)


def blob_volume(shape: tuple[int, int, int] = (16, 18, 14), seed: int = 0) -> np.ndarray:
    """A smooth ellipsoid 'brain' with a little noise, float32."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    r = np.sqrt((grid**2).sum(0))
    vol = np.clip(1.2 - r, 0, None) + 0.01 * rng.standard_normal(shape)
    return vol.astype(np.float32)


@pytest.fixture()
def nifti_file(tmp_path: Path) -> Path:
    path = tmp_path / "img.nii.gz"
    nib.save(nib.Nifti1Image(blob_volume(), np.diag([1.0, 1.0, 1.0, 1.0])), str(path))
    return path


def write_manifest_rows(folder: Path, rows: list[dict[str, str]], name: str = "m.csv") -> Path:
    cols = list(rows[0])
    text = ",".join(cols) + "\n" + "\n".join(",".join(r.get(c, "") for c in cols) for r in rows)
    path = folder / name
    path.write_text(text + "\n")
    return path


@pytest.fixture()
def small_cohort(tmp_path: Path) -> Path:
    """A manifest of 6 tiny scans (4 normal, 2 anomalous) with images beside it."""
    rows = []
    for i in range(6):
        img = tmp_path / f"s{i}.nii.gz"
        nib.save(nib.Nifti1Image(blob_volume(seed=i), np.eye(4)), str(img))
        rows.append(
            {
                "subject_id": f"s{i}",
                "image": img.name,
                "age": str(20 + 10 * i),
                "label": str(i // 4),
            }
        )
    return write_manifest_rows(tmp_path, rows)
