"""Age effects are measurable in the generated images and follow the calibrated model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.stats import spearmanr

from brainuad.synth import SynthConfig, ageing, generate_subject
from brainuad.synth.anatomy import load_anatomy

FAST = SynthConfig(voxel_size=3.0, orientation_jitter=False, skull=False)


def csf_fraction(subj) -> float:
    """CSF fraction inside the brain mask, from the ground-truth tissue maps."""
    brain = subj.brain_mask > 0
    return float(subj.tissue[2][brain].sum() / brain.sum())


def dark_fraction(subj) -> float:
    """Image-only measure: share of brain voxels darker than half the bright-tissue level."""
    img = subj.image.astype(float)[subj.brain_mask > 0]
    return float(np.mean(img < 0.5 * np.percentile(img, 95)))


@pytest.fixture(scope="module")
def same_subject_ageing():
    return [
        generate_subject(age, 0, seed=4, config=FAST, return_tissue=True)
        for age in (20, 45, 70, 90)
    ]


def test_csf_rises_with_age_for_one_subject(same_subject_ageing) -> None:
    csf = [csf_fraction(s) for s in same_subject_ageing]
    dark = [dark_fraction(s) for s in same_subject_ageing]
    assert np.all(np.diff(csf) > 0), csf
    assert np.all(np.diff(dark) > 0), dark
    assert csf[-1] - csf[0] > 0.05
    # ventricles and white-matter lesions grow too
    ratios = [s.info["ventricle_ratio"] for s in same_subject_ageing]
    assert np.all(np.diff(ratios) > 0)
    assert same_subject_ageing[-1].info["n_wmh"] >= same_subject_ageing[0].info["n_wmh"]


def test_csf_fraction_predicts_age_across_subjects() -> None:
    rng = np.random.default_rng(0)
    ages = rng.uniform(18, 90, 10).round(1)
    csf = [
        csf_fraction(generate_subject(a, 0, seed=100 + i, config=FAST, return_tissue=True))
        for i, a in enumerate(ages)
    ]
    rho = spearmanr(ages, csf).statistic
    assert rho > 0.7


def test_no_ageing_means_age_changes_nothing() -> None:
    cfg = SynthConfig(voxel_size=3.0, orientation_jitter=False, skull=False, ageing=False)
    young = generate_subject(20.0, 0, seed=9, config=cfg)
    old = generate_subject(85.0, 0, seed=9, config=cfg)
    assert np.array_equal(young.image, old.image)
    aged = generate_subject(85.0, 0, seed=9, config=FAST)
    assert not np.array_equal(aged.image, old.image)


def test_ventricle_flow_reaches_the_requested_volume() -> None:
    anat = load_anatomy(3.0)
    box = anat.vent_box
    pts = np.indices(box.shape, dtype=np.float32).reshape(
        3, -1
    ) * 3.0 + anat.vent_box_origin.reshape(3, 1)
    strengths, ratios = ageing._vent_lookup(3.0)
    for target in (0.8, 2.0, 3.5):
        c = float(np.interp(target, ratios, strengths))
        moved = ageing.ventricle_flow(pts, anat, c)
        idx = (moved - anat.vent_box_origin.reshape(3, 1)) / 3.0
        achieved = ndi.map_coordinates(box, idx, order=1).sum() / box.sum()
        assert achieved == pytest.approx(target, rel=0.1)


def test_precomputed_flow_matches_euler_integration() -> None:
    anat = load_anatomy(3.0)
    rng = np.random.default_rng(0)
    lo = anat.vent_box_origin
    hi = lo + (np.array(anat.vent_box.shape) - 1) * 3.0
    pts = (lo + rng.random((2000, 3)) * (hi - lo)).T.astype(np.float32)
    for strength in (-25.0, 37.0, 155.0):
        fast = ageing.ventricle_flow(pts, anat, strength)
        exact = ageing.ventricle_flow_exact(pts, anat, strength)
        moved = np.abs(exact - pts).max()
        assert moved > 0.5  # the flow does move points...
        assert np.abs(fast - exact).max() < 0.15 * moved + 0.3  # ...and the lookup follows it


def test_cortical_loss_matches_the_gm_rate() -> None:
    anat = load_anatomy(3.0)
    for age in (40.0, 70.0, 90.0):
        effects = ageing.sample_ageing(np.random.default_rng(1), age, anat)
        lost = ageing.cortical_loss(anat, effects).sum() / anat.gm_b.sum()
        assert lost == pytest.approx(ageing.gm_loss_fraction(effects.bio_age), rel=0.05)
