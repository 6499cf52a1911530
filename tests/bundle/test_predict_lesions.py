"""Predict's lesion candidates: bundle thresholds, the native-grid mask, regions, world centre."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from bundle_helpers import lesion_for, make_head, save_nifti

from brainuad.bundle.lesions import find_candidates
from brainuad.cli.main import main
from brainuad.preprocessing.geometry import SubjectGeometry


def test_bundle_carries_the_healthy_validation_thresholds(bundle_dir: Path) -> None:
    record = json.loads((bundle_dir / "bundle.json").read_text())
    cand = record["lesion_candidates"]
    study = bundle_dir.parent
    loc = json.loads((study / "localisation" / f"{record['method']}.json").read_text())
    assert cand["thresholds"] == loc["thresholds"]
    assert cand["thresholds"]["fpr5"] <= cand["thresholds"]["fpr1"]
    assert "healthy validation" in cand["chosen_on"] and cand["postprocess"] == loc["postprocess"]


def test_predict_writes_the_candidate_mask_and_regions(bundle_dir: Path, tmp_path: Path) -> None:
    centre, radius = lesion_for(3)
    data, affine, truth = make_head(203, lesion=(centre, radius))
    scan = save_nifti(tmp_path / "tum.nii.gz", data, affine)
    out = tmp_path / "out"
    assert main(["predict", str(bundle_dir), str(scan), "--age", "50", "--out", str(out)]) == 0
    record = json.loads((out / "tum.json").read_text())["lesion_candidates"]
    mask_img = nib.load(str(out / "tum_lesions.nii.gz"))
    mask = np.asarray(mask_img.dataobj)
    assert mask.shape == data.shape and set(np.unique(mask)) <= {0, 1}
    np.testing.assert_allclose(mask_img.affine, affine, atol=1e-5)
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000
    assert record["n_regions"] == len(record["volumes_ml"])
    assert record["total_ml"] == pytest.approx(mask.sum() * voxel_ml, abs=0.01)
    assert record["volumes_ml"] == sorted(record["volumes_ml"], reverse=True)
    if record["n_regions"]:
        # the largest region's centre lies inside the candidate mask's world bounding box
        ijk = np.argwhere(mask > 0)
        world = (affine @ np.c_[ijk, np.ones(len(ijk))].T)[:3]
        c = np.asarray(record["largest_centre_world_mm"])
        assert np.all(c >= world.min(axis=1) - 1) and np.all(c <= world.max(axis=1) + 1)


def test_find_candidates_by_hand() -> None:
    # model grid 2 mm, native grid 1 mm on the same world: two blobs above the threshold
    model_aff = np.diag([2.0, 2.0, 2.0, 1.0])
    native_aff = np.diag([1.0, 1.0, 1.0, 1.0])
    native_aff[:3, 3] = [10.0, -5.0, 3.0]
    geometry = SubjectGeometry((40, 40, 40), native_aff, np.eye(4), (24, 24, 24), model_aff)
    amap = np.zeros((24, 24, 24), np.float32)
    amap[5:11, 5:11, 5:11] = 1.0  # 216 model voxels = 1.728 ml
    amap[14:16, 14:16, 14:16] = 1.0  # 8 voxels = 0.064 ml, under the 0.125 ml minimum
    record = {
        "thresholds": {"fpr1": 0.5, "fpr5": 0.2},
        "postprocess": {"erode_voxels": 0, "median_size": 0, "min_component_ml": 0.125},
    }
    found = find_candidates(record, amap, np.ones_like(amap, np.uint8), geometry)
    assert found is not None and found.n_regions == 1
    # 1.728 ml in model space; resampled to 1 mm, the edge voxels at 0.5 count (13^3 mm^3)
    assert 1.3 < found.volumes_ml[0] < 2.3
    # centre of model voxels 5..10 = 7.5 * 2 mm = 15 mm (+ half a native voxel of resampling)
    assert np.allclose(found.largest_centre_mm, [15.0, 15.0, 15.0], atol=1.0)
    assert find_candidates(None, amap, np.ones_like(amap), geometry) is None
