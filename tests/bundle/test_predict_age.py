"""Hand-made bundles: missing ages per model kind, and the map of a known reconstruction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bundle_helpers import CENTRE, handmade_bundle, make_head, save_nifti

from brainuad.bundle import CombinedWeights, ScanInput, load_bundle, predict_scan, validate_age
from brainuad.errors import ConfigError
from uad_testing import AGE_ATOL_YEARS, SUM_RTOL


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, affine, _ = make_head(7)
    return save_nifti(tmp_path_factory.mktemp("scan") / "s.nii.gz", data, affine)


def test_predict_vae_ac_without_age_keeps_kl_only(tmp_path: Path, scan: Path) -> None:
    root = handmade_bundle(tmp_path / "ac", "vae-ac", weights=CombinedWeights(0.5, 1.0, 0.0))
    bundle = load_bundle(root, device="cpu")
    with_age = predict_scan(bundle, scan, age=40)
    without = predict_scan(bundle, scan)
    assert without.scores["kl"] == pytest.approx(with_age.scores["kl"], rel=SUM_RTOL)
    assert (
        without.scores["rec"] is None
        and "needs the chronological age" in without.unavailable["rec"]
    )
    assert without.scores["combined"] is None and "rec" in without.unavailable["combined"]
    assert without.flags == {"sens100": None, "spec95": None}
    assert without.anomaly_map is None
    assert without.percentiles["kl"] is not None and without.percentiles["rec"] is None
    assert with_age.scores["combined"] == pytest.approx(
        0.5 * with_age.scores["rec"] + with_age.scores["kl"]
    )
    assert "age" in with_age.unavailable and "no age head" in with_age.unavailable["age"]
    assert with_age.age_pred is None and with_age.brain_age_gap is None


def test_predict_vae_ac_without_age_and_alpha_zero_has_a_combined_score(
    tmp_path: Path, scan: Path
) -> None:
    root = handmade_bundle(tmp_path / "ac0", "vae-ac", weights=CombinedWeights(0.0, 1.0, 0.0))
    pred = predict_scan(load_bundle(root, device="cpu"), scan)
    assert pred.scores["rec"] is None
    assert pred.scores["combined"] == pred.scores["kl"]
    assert pred.flags["spec95"] is not None


def test_predict_vae_ap_without_age_and_gamma(tmp_path: Path, scan: Path) -> None:
    root = handmade_bundle(tmp_path / "ap", "vae-ap", weights=CombinedWeights(1.0, 1.0, 0.5))
    bundle = load_bundle(root, device="cpu")
    pred = predict_scan(bundle, scan)
    assert pred.scores["rec"] is not None and pred.age_pred is not None
    assert pred.scores["age"] is None and pred.scores["combined"] is None
    assert "age" in pred.unavailable["combined"]
    full = predict_scan(bundle, scan, age=33)
    expected = full.scores["rec"] + full.scores["kl"] + 0.5 * abs(full.age_pred - 33)
    assert full.scores["combined"] == pytest.approx(expected)
    assert full.brain_age_gap == pytest.approx(full.age_pred - 33)


def test_predict_plain_vae_needs_no_age(tmp_path: Path, scan: Path) -> None:
    root = handmade_bundle(tmp_path / "v", "vae", weights=CombinedWeights(2.0, 1.0, 0.0))
    pred = predict_scan(load_bundle(root, device="cpu"), scan)
    assert pred.scores["combined"] == pytest.approx(2 * pred.scores["rec"] + pred.scores["kl"])
    assert pred.warnings[-1].startswith("no chronological age given: the training age range")


def test_predict_map_maximum_inside_a_bright_blob(tmp_path: Path) -> None:
    """With a zero reconstruction the map is the smoothed scan: its peak is the bright blob."""
    root = handmade_bundle(
        tmp_path / "zero", "vae", weights=CombinedWeights(1.0, 1.0, 0.0), zero_output=True
    )
    blob = (CENTRE + np.array([-30.0, 20.0, 5.0]), 18.0)
    data, affine, lesion = make_head(3, lesion=blob, lesion_value=1.4)
    image = save_nifti(tmp_path / "blob.nii.gz", data, affine)
    bundle = load_bundle(root, device="cpu")
    pred = predict_scan(bundle, image, age=50)
    assert pred.model_map is not None
    amap = pred.anomaly_map
    assert amap is not None and lesion[np.unravel_index(np.argmax(amap), amap.shape)]
    assert pred.scores["rec"] > 0
    assert pred.flags["sens100"] == (
        pred.scores["combined"] >= bundle.operating_points[0].threshold
    )


@pytest.mark.parametrize("bad", ["-1", "121", "nan", "abc", "inf"])
def test_predict_rejects_impossible_ages(bad: str) -> None:
    with pytest.raises(ConfigError, match="--age"):
        validate_age(bad)


def test_predict_scan_inputs_validate_their_age() -> None:
    with pytest.raises(ConfigError, match="age of s1: expected an age between 0 and 120"):
        ScanInput("s1", Path("s1.nii.gz"), 130.0)
    assert ScanInput("s1", "s1.nii.gz", "42").age == 42.0  # type: ignore[arg-type]


def test_predict_accepts_plain_ages() -> None:
    assert validate_age("63") == 63.0
    assert validate_age(0) == 0.0 and validate_age(120) == 120.0
    assert validate_age(None) is None and validate_age("") is None


def test_predict_vae_acp_without_age_keeps_kl_and_the_brain_age(tmp_path: Path, scan: Path) -> None:
    root = handmade_bundle(tmp_path / "acp", "vae-acp", weights=CombinedWeights(0.5, 1.0, 0.5))
    bundle = load_bundle(root, device="cpu")
    with_age = predict_scan(bundle, scan, age=40)
    without = predict_scan(bundle, scan)
    assert without.scores["rec"] is None
    assert "needs the chronological age" in without.unavailable["rec"]
    assert without.age_pred == pytest.approx(with_age.age_pred, abs=AGE_ATOL_YEARS)
    assert without.scores["kl"] == pytest.approx(with_age.scores["kl"], rel=SUM_RTOL)
    assert without.scores["age"] is None and without.scores["combined"] is None
    expected = 0.5 * with_age.scores["rec"] + with_age.scores["kl"] + 0.5 * with_age.scores["age"]
    assert with_age.scores["combined"] == pytest.approx(expected)
