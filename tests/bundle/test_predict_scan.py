"""Predicting single scans with the tiny study's bundle: flags, maps, round trip from NIfTI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bundle_helpers import lesion_for, make_head, save_nifti

from brainuad.bundle import ScanInput, load_bundle, predict_preprocessed, predict_scan
from brainuad.bundle.predict import preprocess_scan
from uad_testing import AGE_ATOL_YEARS, SUM_RTOL


@pytest.fixture(scope="module")
def bundle(bundle_dir: Path):  # type: ignore[no-untyped-def]
    return load_bundle(bundle_dir, device="cpu")


def test_predict_nifti_round_trip_matches_the_run(bundle, study: Path, cohort_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Preprocessing + model from the original NIfTI files reproduce the run's scores."""
    run = pd.read_csv(study / "scores" / "vae-ap.csv", dtype={"subject_id": str})
    run = run[run["split"] == "val"].reset_index(drop=True)
    scans = [
        ScanInput(sid, cohort_dir / f"{sid}.nii.gz", float(age))
        for sid, age in zip(run["subject_id"], run["age"], strict=True)
    ]
    preds = predict_preprocessed(
        bundle, scans, [preprocess_scan(bundle.preprocess, s) for s in scans]
    )
    # single-scan inference vs the run's batched inference: other kernels, same maths
    for key in ("rec", "kl"):
        np.testing.assert_allclose([p.scores[key] for p in preds], run[key], rtol=SUM_RTOL)
    np.testing.assert_allclose(
        [p.scores["age"] for p in preds], run["age_abs_error"], rtol=0, atol=AGE_ATOL_YEARS
    )
    np.testing.assert_allclose(
        [p.age_pred for p in preds], run["age_pred"], rtol=0, atol=AGE_ATOL_YEARS
    )
    # healthy validation subjects sit inside their own reference: never flagged at spec95
    for p, label in zip(preds, run["label"], strict=True):
        if label == 0:
            assert p.flags["spec95"] is False
            assert p.percentiles["combined"] is not None and 0 < p.percentiles["combined"] <= 100
        else:
            assert p.flags["sens100"] is True  # every anomalous val subject, by construction


# held-out phantoms (seeds never seen by the study); the tiny model's combined score is L_KL
# here, so these are scans it separates with a margin (see tests/bundle/bundle_helpers.py)
@pytest.mark.parametrize("seed", [101, 105])
def test_predict_flags_a_tumour_and_its_map_peaks_inside(bundle, tmp_path: Path, seed: int) -> None:  # type: ignore[no-untyped-def]
    data, affine, lesion = make_head(seed, lesion=lesion_for(seed))
    image = save_nifti(tmp_path / "tumour.nii.gz", data, affine)
    pred = predict_scan(bundle, image, age=50)
    assert pred.flags == {"sens100": True, "spec95": True}
    assert pred.percentiles["combined"] == 100.0
    amap = pred.anomaly_map
    assert amap is not None and amap.shape == data.shape
    assert lesion[np.unravel_index(np.argmax(amap), amap.shape)]
    assert amap[lesion].mean() > 3 * amap[(data > 0) & ~lesion].mean()
    assert pred.age_pred is not None and pred.brain_age_gap == pytest.approx(pred.age_pred - 50)
    assert pred.scores["age"] == pytest.approx(abs(pred.age_pred - 50))


@pytest.mark.parametrize("seed", [100, 106])
def test_predict_normal_scan_not_flagged_at_spec95(bundle, tmp_path: Path, seed: int) -> None:  # type: ignore[no-untyped-def]
    data, affine, _ = make_head(seed)
    image = save_nifti(tmp_path / "normal.nii.gz", data, affine)
    pred = predict_scan(bundle, image, age=45, subject_id="n1")
    assert pred.flags["spec95"] is False
    assert pred.subject_id == "n1"
    assert pred.percentiles["combined"] < 100.0


def test_predict_map_follows_a_reoriented_scan(bundle, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same scan stored with permuted/flipped axes: the map lands on the same anatomy."""
    import nibabel as nib

    data, affine, lesion = make_head(101, lesion=lesion_for(101))
    img = nib.Nifti1Image(data, affine)
    ornt = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(affine), nib.orientations.axcodes2ornt(("P", "I", "L"))
    )
    moved = img.as_reoriented(ornt)
    moved_lesion = nib.Nifti1Image(lesion.astype(np.uint8), affine).as_reoriented(ornt)
    path = tmp_path / "pil.nii.gz"
    nib.save(moved, str(path))
    pred = predict_scan(bundle, path, age=50)
    assert pred.anomaly_map is not None and pred.anomaly_map.shape == moved.shape
    np.testing.assert_allclose(pred.native_affine, moved.affine)
    peak = np.unravel_index(np.argmax(pred.anomaly_map), pred.anomaly_map.shape)
    assert np.asarray(moved_lesion.dataobj)[peak] == 1


def test_predict_warns_outside_training_ages_and_without_age(bundle, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data, affine, _ = make_head(100)
    image = save_nifti(tmp_path / "old.nii.gz", data, affine)
    old = predict_scan(bundle, image, age=110)
    assert any("outside the ages seen in training" in w for w in old.warnings)
    none = predict_scan(bundle, image)  # vae-ap: no L_age, no gap; the rest is computed
    assert none.scores["age"] is None and "no chronological age" in none.unavailable["age"]
    assert none.brain_age_gap is None and none.age_pred == pytest.approx(old.age_pred)
    assert none.scores["rec"] == pytest.approx(old.scores["rec"])
    assert none.anomaly_map is not None
    if bundle.weights.gamma == 0:
        assert none.scores["combined"] == pytest.approx(old.scores["combined"])
    else:
        assert none.scores["combined"] is None and none.flags["spec95"] is None
    assert any("no chronological age given" in w for w in none.warnings)
