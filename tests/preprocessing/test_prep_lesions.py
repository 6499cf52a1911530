"""Lesion masks: validation where they enter, and the soft model-space fraction in the cache."""

from __future__ import annotations

import numpy as np
import pytest
from prep_phantoms import make_phantom, save, small_config, write_cohort

from brainuad.errors import InputFileError
from brainuad.io.cache import open_cache
from brainuad.preprocessing import (
    load_lesion_fractions,
    load_lesions,
    preprocess_cohort,
    preprocess_subject,
)
from brainuad.preprocessing.lesions import fraction_from_stored, quantise_fraction


@pytest.fixture()
def head(tmp_path):
    ph = make_phantom()
    return ph, save(tmp_path / "head.nii.gz", ph.data, ph.affine)


def test_fraction_is_kept_and_thresholds_to_the_binary_mask(head, tmp_path) -> None:
    ph, path = head
    lesion = save(tmp_path / "lesion.nii.gz", ph.marker, ph.affine)
    out = preprocess_subject(path, lesion_path=lesion, config=small_config())
    frac = out.lesion_fraction
    assert frac.dtype == np.float32 and frac.min() >= 0.0 and frac.max() <= 1.0
    # soft: some voxels are partly covered (the marker's rim)
    assert np.any((frac > 0.05) & (frac < 0.95))
    assert np.array_equal(out.lesion, (frac > 0.5).astype(np.uint8))
    # the fraction's sum is the marker's volume in model voxels (10 mm^3 voxels here)
    marker_ml = ph.marker.sum() * 27.0
    assert frac.sum() * 10.0**3 == pytest.approx(marker_ml, rel=0.15)


def test_quantised_fraction_round_trips_within_half_a_step() -> None:
    f = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    back = fraction_from_stored(quantise_fraction(f))
    assert np.max(np.abs(back - f)) <= 0.5 / 255 + 1e-7


def test_mask_on_another_grid_is_refused(head, tmp_path) -> None:
    ph, path = head
    other = ph.affine.copy()
    other[:3, :3] *= 2.0 / 3.0
    lesion = save(tmp_path / "lesion_2mm.nii.gz", ph.marker, other)
    with pytest.raises(InputFileError, match=r"lesion_2mm\.nii\.gz: lesion mask must lie on"):
        preprocess_subject(path, lesion_path=lesion, config=small_config())
    cropped = save(tmp_path / "lesion_small.nii.gz", ph.marker[:-2], ph.affine)
    with pytest.raises(InputFileError, match=r"lesion_small.*found shape \(58, 68, 60\)"):
        preprocess_subject(path, lesion_path=cropped, config=small_config())


def test_mask_that_is_not_binary_like_is_refused(head, tmp_path) -> None:
    ph, path = head
    prob = save(tmp_path / "prob.nii.gz", ph.marker * 0.37 + 0.01, ph.affine)
    with pytest.raises(InputFileError, match=r"prob\.nii\.gz: lesion mask must be binary-like"):
        preprocess_subject(path, lesion_path=prob, config=small_config())
    # BraTS labels 0/1/2/4 are fine: every label > 0 is lesion
    labels = save(tmp_path / "seg.nii.gz", (ph.marker * 4.0).astype(np.float32), ph.affine)
    out = preprocess_subject(path, lesion_path=labels, config=small_config())
    assert out.lesion.sum() > 0


def test_cache_keeps_fractions_and_a_bad_mask_fails_only_its_subject(tmp_path) -> None:
    folder = tmp_path / "cohort"
    folder.mkdir()
    manifest = write_cohort(folder, 3, lesions=True)
    ph = make_phantom(seed=2)
    save(folder / "sub2_lesion.nii.gz", ph.marker * 0.5, ph.affine)  # not binary-like
    report = preprocess_cohort(
        manifest, tmp_path / "cache", config=small_config(), jobs=1, progress=False
    )
    assert [f.subject_id for f in report.failures] == ["sub2"]
    assert "sub2_lesion.nii.gz: lesion mask must be binary-like" in report.failures[0].error
    cache = open_cache(tmp_path / "cache")
    assert list(cache.subjects["subject_id"]) == ["sub0", "sub1"]
    binary, fractions = load_lesions(cache), load_lesion_fractions(cache)
    assert fractions.shape == binary.shape == cache.volumes.shape
    frac = np.stack([fractions[i] for i in range(len(fractions))])
    # the stored fraction is rounded to 1/255: it may differ from the mask only at 0.5 +- 1/510
    differ = binary.astype(bool) != (frac > 0.5)
    assert np.all(np.abs(frac[differ] - 0.5) <= 0.5 / 255 + 1e-6)
    assert np.any((frac > 0.05) & (frac < 0.95))
