"""The "already skull-stripped?" check and the ``skull_strip: auto`` paths it chooses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prep_phantoms import make_phantom, save, small_config

from brainuad.cli.main import main
from brainuad.io.manifest import read_cohort
from brainuad.io.nifti import load_volume
from brainuad.preprocessing import preprocess_subject, skullstrip
from brainuad.preprocessing.steps import fill_holes, largest_component
from brainuad.preprocessing.stripcheck import check_skull_stripped
from brainuad.synth import SynthConfig
from brainuad.synth.subject import generate_subject


def _spacing(affine: np.ndarray) -> np.ndarray:
    return np.linalg.norm(affine[:3, :3], axis=0)


@pytest.mark.parametrize("label", [0, 1])
def test_synthetic_heads_and_brains(label: int) -> None:
    for seed in (3, 4):
        head = generate_subject(50.0, label, seed=seed, config=SynthConfig(voxel_size=4.0))
        brain = generate_subject(
            50.0, label, seed=seed, config=SynthConfig(voxel_size=4.0, skull=False)
        )
        found_head = check_skull_stripped(head.image, _spacing(head.affine))
        found_brain = check_skull_stripped(brain.image, _spacing(brain.affine))
        assert not found_head.stripped and found_head.zero_fraction < 0.05
        assert "a head with skull" in found_head.reason
        assert found_brain.stripped and found_brain.zero_fraction == 1.0
        # the foreground of a stripped scan is its brain
        true_ml = float(brain.brain_mask.sum()) * 64 / 1000
        assert found_brain.foreground_ml == pytest.approx(true_ml, rel=0.05)
        assert found_head.foreground_ml > 1.5 * true_ml
        # a head whose air was set to 0 (by a scanner or converter) is still a head
        zeroed = head.image.copy()
        zeroed[~fill_holes(largest_component(zeroed > 0.1 * np.percentile(zeroed, 99)))] = 0
        found = check_skull_stripped(zeroed, _spacing(head.affine))
        assert not found.stripped and found.zero_fraction == 1.0
        assert "a head whose air was zeroed" in found.reason


def test_phantoms_and_edge_cases() -> None:
    brain = make_phantom()
    head = make_phantom(skull=True)  # exactly-zero background, but a skull shell around
    assert check_skull_stripped(brain.data, (3.0, 3.0, 3.0)).stripped
    assert not check_skull_stripped(head.data, (3.0, 3.0, 3.0)).stripped
    full = np.ones((20, 20, 20), np.float32)
    found = check_skull_stripped(full, (2.0, 2.0, 2.0))
    assert not found.stripped and "too little background" in found.reason
    empty = check_skull_stripped(np.zeros((8, 8, 8)), (1.0, 1.0, 1.0))
    assert not empty.stripped and "empty" in empty.reason


def _noisy_head(tmp_path: Path) -> Path:
    """A phantom head with a skull shell and Rician-like air noise: a raw head."""
    ph = make_phantom(skull=True)
    rng = np.random.default_rng(5)
    air = np.abs(20.0 + 15.0 * rng.standard_normal(ph.data.shape)).astype(np.float32)
    data = np.where(ph.data > 0, ph.data, air)
    return save(tmp_path / "head.nii.gz", data, ph.affine)


def test_auto_takes_the_path_of_each_input(tmp_path: Path, monkeypatch) -> None:
    ph = make_phantom()
    stripped = save(tmp_path / "brain.nii.gz", ph.data, ph.affine)
    auto = preprocess_subject(stripped, config=small_config(skull_strip="auto"))
    forced = preprocess_subject(stripped, config=small_config(skull_strip="none"))
    assert auto.qc["skull_strip_path"] == "none" and auto.qc["input_skull_stripped"] is True
    assert np.array_equal(auto.volume, forced.volume)
    assert forced.qc["skull_strip_path"] == "none"

    calls: list[tuple[int, ...]] = []

    def fake_deepbet(data: np.ndarray, **_: object) -> np.ndarray:
        # stands in for the CNN: the phantom's brain is the largest bright component
        calls.append(data.shape)
        return fill_holes(largest_component(data > 0.3 * np.percentile(data, 99)))

    monkeypatch.setattr(skullstrip, "deepbet_mask", fake_deepbet)
    head = preprocess_subject(_noisy_head(tmp_path), config=small_config(skull_strip="auto"))
    assert head.qc["skull_strip_path"] == "deepbet" and head.qc["input_skull_stripped"] is False
    assert head.qc["input_zero_fraction"] < 0.05
    assert len(calls) == 1 and calls[0] == (180, 204, 180)  # the 1 mm working image
    true_ml = ph.brain.sum() * 27 / 1000
    assert head.qc["brain_volume_ml"] == pytest.approx(true_ml, rel=0.1)


def test_synth_skull_stripped_cohort_is_detected(tmp_path: Path) -> None:
    for flag, expected in (("--skull-stripped", True), (None, False)):
        out = tmp_path / f"cohort-{expected}"
        args = ["synth", str(out), "--n-normal", "1", "--n-anomalous", "1", "--seed", "2"]
        args += ["--voxel-size", "4", "--jobs", "1", "--no-progress"]
        assert main(args + ([flag] if flag else [])) == 0
        for subject in read_cohort(out / "manifest.csv"):
            raw = load_volume(subject.image)
            found = check_skull_stripped(raw.data, raw.spacing)
            assert found.stripped is expected, (subject.subject_id, found.reason)
