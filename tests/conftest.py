"""Shared fixtures: tiny NIfTI volumes and manifests written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from uad_testing import blob_volume, write_manifest_rows

# keep the suite light on the 2-core CI machine
torch.set_num_threads(1)


@pytest.fixture()
def nifti_file(tmp_path: Path) -> Path:
    path = tmp_path / "img.nii.gz"
    nib.save(nib.Nifti1Image(blob_volume(), np.diag([1.0, 1.0, 1.0, 1.0])), str(path))
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
