"""preprocess_subject on small phantoms and on the template: geometry, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest
from prep_phantoms import (
    MARKER_OFFSET,
    centroid_world,
    make_phantom,
    reoriented,
    save,
    small_config,
)

from brainuad.errors import ConfigError, InputFileError
from brainuad.preprocessing import PreprocessConfig, preprocess_subject, skullstrip, to_native_space
from brainuad.preprocessing.register import dice_score
from brainuad.preprocessing.steps import downsample
from brainuad.preprocessing.template import load_template


@pytest.fixture()
def phantom_file(tmp_path):
    ph = make_phantom()
    return ph, save(tmp_path / "head.nii.gz", ph.data, ph.affine)


def test_output_contract_on_a_stripped_phantom(phantom_file) -> None:
    ph, path = phantom_file
    cfg = small_config()
    out = preprocess_subject(path, config=cfg)
    assert out.volume.shape == cfg.target_shape == out.mask.shape
    assert out.volume.dtype == np.float32 and out.mask.dtype == np.uint8
    assert out.volume.min() >= 0.0 and out.volume.max() <= 1.0
    assert np.all(out.volume[out.mask == 0] == 0.0)
    assert out.volume[out.mask == 1].mean() > 0.3
    # brain centred: the mask's centroid is within one voxel of the grid centre
    centre = (np.asarray(cfg.target_shape) - 1) / 2.0
    assert np.all(np.abs(np.argwhere(out.mask).mean(axis=0) - centre) < 1.0)
    # brain volume: the phantom's brain (the 3 mm -> 1 mm upsampling blurs its edge a little)
    expected_ml = ph.brain.sum() * 27 / 1000
    assert out.qc["brain_volume_ml"] == pytest.approx(expected_ml, rel=0.1)
    assert set(out.qc) >= {"p01", "p50", "p99", "t_total", "reg_ok", "crop_brain_fraction"}


def test_no_flips_and_affine_correct_for_any_storage_order(tmp_path) -> None:
    ph = make_phantom()
    data, affine = reoriented(ph.data, ph.affine)
    marker, _ = reoriented(ph.marker.astype(np.float32), ph.affine)
    path = save(tmp_path / "lpi.nii.gz", data, affine)
    lesion = save(tmp_path / "marker.nii.gz", marker > 0.5, affine)
    ras = preprocess_subject(
        save(tmp_path / "ras.nii.gz", ph.data, ph.affine), config=small_config()
    )
    lpi = preprocess_subject(path, lesion_path=lesion, config=small_config())
    assert np.allclose(ras.volume, lpi.volume, atol=1e-3)
    # the marker (right, anterior, superior) lands where the model affine says it is
    model = lpi.geometry.model_affine
    found = centroid_world(lpi.lesion > 0, model)
    truth = centroid_world(ph.marker, ph.affine)
    assert np.linalg.norm(found - truth) < 5.0
    brain_centre = centroid_world(lpi.mask > 0, model)
    assert np.all(np.sign(found - brain_centre) == np.sign(MARKER_OFFSET))
    # back onto the scan as stored (LPI, permuted axes): the marker is where it was drawn
    back = to_native_space(lpi.lesion.astype(np.float32), lpi.geometry) > 0.25
    assert back.shape == marker.shape
    shift_vox = np.argwhere(back).mean(axis=0) - np.argwhere(marker > 0.5).mean(axis=0)
    assert np.linalg.norm(shift_vox * 3.0) < 5.0


def test_deterministic(phantom_file) -> None:
    _, path = phantom_file
    a = preprocess_subject(path, config=small_config(n4=True, denoise=True))
    b = preprocess_subject(path, config=small_config(n4=True, denoise=True))
    assert np.array_equal(a.volume, b.volume) and np.array_equal(a.mask, b.mask)


def test_own_mask_strips_the_skull_and_round_trips_to_native(tmp_path) -> None:
    ph = make_phantom(skull=True, spacing=3.0)
    path = save(tmp_path / "head.nii.gz", ph.data, ph.affine)
    mask = save(tmp_path / "brain.nii.gz", ph.brain, ph.affine)
    out = preprocess_subject(path, mask_path=mask, config=small_config(skull_strip="mask"))
    assert out.volume.max() <= 1.0 and out.mask.sum() > 0
    back = to_native_space(out.mask.astype(np.float32), out.geometry) > 0.5
    assert back.shape == ph.data.shape
    assert dice_score(back, ph.brain) > 0.9
    assert np.linalg.norm(centroid_world(back, ph.affine) - centroid_world(ph.brain, ph.affine)) < 3


def test_registered_template_lands_on_the_paper_grid(tmp_path) -> None:
    tpl = load_template()
    path = save(tmp_path / "mni.nii.gz", tpl.data * 1000.0, tpl.affine)
    cfg = PreprocessConfig(skull_strip="none", n4=False, denoise=False)
    out = preprocess_subject(path, config=cfg)
    assert out.volume.shape == (64, 77, 66)
    assert out.qc["reg_ok"] and out.qc["reg_similarity"] > 0.95
    # the reference mask taken to the model grid directly agrees with the output mask
    ref = downsample(tpl.mask.astype(np.float32), tpl.grid, out.geometry.model_grid) > 0.5
    assert dice_score(out.mask > 0, ref) > 0.95
    # registering the template to itself is (nearly) the identity: < 0.5 mm at brain points
    pts = np.c_[np.argwhere(tpl.mask)[::211], np.ones(len(np.argwhere(tpl.mask)[::211]))]
    world = pts @ tpl.affine.T
    moved = world @ (out.geometry.ref_to_native - np.eye(4)).T
    assert np.linalg.norm(moved[:, :3], axis=1).mean() < 0.5


def test_errors(tmp_path, phantom_file, monkeypatch) -> None:
    _, path = phantom_file
    with pytest.raises(InputFileError, match=r"missing\.nii\.gz: file not found"):
        preprocess_subject(tmp_path / "missing.nii.gz", config=small_config())
    with pytest.raises(RuntimeError, match=r"skull_strip 'mask' needs a brain mask"):
        preprocess_subject(path, config=small_config(skull_strip="mask"))
    empty = save(tmp_path / "empty.nii.gz", np.zeros((8, 8, 8), bool), np.eye(4))
    with pytest.raises(InputFileError, match=r"empty\.nii\.gz: brain mask is empty"):
        preprocess_subject(path, mask_path=empty, config=small_config(skull_strip="mask"))
    far = np.eye(4)
    far[:3, 3] = 5000.0
    away = save(tmp_path / "away.nii.gz", np.ones((8, 8, 8), bool), far)
    with pytest.raises(InputFileError, match=r"away\.nii\.gz: brain mask does not overlap"):
        preprocess_subject(path, mask_path=away, config=small_config(skull_strip="mask"))

    def no_deepbet():
        raise ConfigError(skullstrip.DEEPBET_HINT)

    monkeypatch.setattr(skullstrip, "_import_deepbet", no_deepbet)
    skullstrip._deepbet_model.cache_clear()
    with pytest.raises(ConfigError, match=r"skull_strip 'deepbet' needs the deepbet package"):
        preprocess_subject(path, config=small_config(skull_strip="deepbet"))
    skullstrip._deepbet_model.cache_clear()
