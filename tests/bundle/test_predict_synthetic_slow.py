"""Slow: a realistic end-to-end check on synthetic MNI-based heads with gliomas.

A cohort of 52 skull-stripped synthetic subjects (2 mm, varied orientations, ageing, gliomas)
goes through the whole study (affine registration, ``cpu`` preset, 80 epochs on a 5 mm model
grid; about 3 minutes on 2 cores), the best method is exported, and held-out subjects are
predicted from their NIfTI files: two large gliomas (65-72 mL) are flagged at the
100%-sensitivity point and their maps peak inside the true lesion; a held-out normal subject is
not flagged at the 95%-specificity point. With 28 training subjects the model is weak (a small
20 mL glioma is missed), so this checks the pipeline end to end, not the paper's accuracy.
Run with ``pytest -m slow tests/bundle``.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

pytestmark = pytest.mark.slow

PREPROCESS = {
    "crop_shape": [80, 96, 83],
    "target_shape": [32, 38, 33],
    "voxel_size": 2.0,
    "skull_strip": "none",
    "register": True,
}


@pytest.fixture(scope="module")
def synthetic_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from brainuad.experiment.config import StudyConfig
    from brainuad.experiment.runner import run_study
    from brainuad.synth import SynthConfig, generate_cohort

    root = tmp_path_factory.mktemp("synthetic-study")
    synth = SynthConfig(voxel_size=2.0, skull=False)
    manifest = generate_cohort(root / "cohort", 40, 12, seed=0, config=synth, progress=False)
    config = StudyConfig(
        cohort=manifest,
        output=root / "results",
        preset="cpu",
        methods=("vae-ap",),
        epochs=80,
        device="cpu",
        preprocess=dict(PREPROCESS),
        healthy_split=(28, 8, 4),
        anomalous_split=(6, 6),
        n_resamples=200,
        report=False,
    )
    run_study(config, progress=False, log=lambda _: None)
    return root / "results" / "model"


def _save(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


@pytest.mark.parametrize("seed", [9001, 9002])
def test_predict_synthetic_glioma_flagged_and_located(
    synthetic_bundle: Path, tmp_path: Path, seed: int
) -> None:
    from brainuad.bundle import load_bundle, predict_scan
    from brainuad.synth import SynthConfig, generate_subject

    subject = generate_subject(62.0, 1, seed=seed, config=SynthConfig(voxel_size=2.0, skull=False))
    image = _save(tmp_path / "glioma.nii.gz", subject.image, subject.affine)
    pred = predict_scan(load_bundle(synthetic_bundle, device="cpu"), image, age=62.0)
    assert pred.flags["sens100"] is True
    amap = pred.anomaly_map
    assert amap is not None and amap.shape == subject.image.shape
    lesion = subject.lesion_mask.astype(bool)  # type: ignore[union-attr]
    assert lesion[np.unravel_index(np.argmax(amap), amap.shape)]


def test_predict_synthetic_normal_not_flagged(synthetic_bundle: Path, tmp_path: Path) -> None:
    from brainuad.bundle import load_bundle, predict_scan
    from brainuad.synth import SynthConfig, generate_subject

    subject = generate_subject(48.0, 0, seed=9100, config=SynthConfig(voxel_size=2.0, skull=False))
    image = _save(tmp_path / "normal.nii.gz", subject.image, subject.affine)
    pred = predict_scan(load_bundle(synthetic_bundle, device="cpu"), image, age=48.0)
    assert pred.flags["spec95"] is False
