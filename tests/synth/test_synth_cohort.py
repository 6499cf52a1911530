"""Whole cohorts: files, manifest validity, determinism across worker counts, overwrite rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brainuad.errors import ConfigError
from brainuad.io.manifest import read_cohort
from brainuad.io.nifti import load_volume
from brainuad.synth import SynthConfig, generate_cohort

FAST = SynthConfig(voxel_size=3.0)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    return generate_cohort(out, 2, 1, seed=3, config=FAST, n_jobs=1, progress=False)


def test_manifest_is_valid_for_the_pipeline(cohort: Path) -> None:
    c = read_cohort(cohort)
    assert c.ids == ["sub-0001", "sub-0002", "sub-0003"]
    assert [s.label for s in c] == [0, 0, 1]
    assert all(18 <= s.age <= 90 for s in c)
    assert [s.lesion_mask is None for s in c] == [True, True, False]
    header = cohort.read_text().splitlines()[0]
    assert header == "subject_id,image,age,label,lesion_mask"
    for s in c:
        vol = load_volume(s.image)
        assert vol.spacing == pytest.approx((3.0, 3.0, 3.0))
        assert vol.data.min() >= 0 and vol.data.max() > 100
    anom = c.subjects[2]
    lesion = load_volume(anom.lesion_mask, allow_constant=True)
    assert np.allclose(lesion.affine, load_volume(anom.image).affine)
    assert 10 <= lesion.data.sum() * 27 / 1000 <= 120


def test_summary_records_seed_and_parameters(cohort: Path) -> None:
    summary = json.loads((cohort.parent / "synth.json").read_text())
    assert summary["seed"] == 3 and summary["n_anomalous"] == 1
    assert summary["config"]["voxel_size"] == 3.0
    assert [s["subject_id"] for s in summary["subjects"]] == ["sub-0001", "sub-0002", "sub-0003"]
    assert summary["subjects"][2]["params"]["lesion_ml"] > 0


def test_same_files_whatever_the_number_of_workers(cohort: Path, tmp_path: Path) -> None:
    again = generate_cohort(tmp_path / "par", 2, 1, seed=3, config=FAST, n_jobs=2, progress=False)
    assert again.read_bytes() == cohort.read_bytes()
    for rel in (
        "images/sub-0001_T1w.nii.gz",
        "images/sub-0003_T1w.nii.gz",
        "lesions/sub-0003_lesion.nii.gz",
    ):
        assert (again.parent / rel).read_bytes() == (cohort.parent / rel).read_bytes(), rel


def test_other_seed_other_cohort(cohort: Path, tmp_path: Path) -> None:
    other = generate_cohort(tmp_path / "o", 1, 0, seed=4, config=FAST, n_jobs=1, progress=False)
    a = (other.parent / "images/sub-0001_T1w.nii.gz").read_bytes()
    assert a != (cohort.parent / "images/sub-0001_T1w.nii.gz").read_bytes()


def test_refuses_to_overwrite_unless_asked(cohort: Path) -> None:
    with pytest.raises(
        ConfigError, match="already holds a cohort .manifest.csv.; pass --overwrite"
    ):
        generate_cohort(cohort.parent, 1, 0, seed=3, config=FAST, n_jobs=1, progress=False)


def test_overwrite_and_brain_masks(tmp_path: Path) -> None:
    cfg = SynthConfig(voxel_size=3.0, skull=False, write_brain_masks=True)
    generate_cohort(tmp_path, 1, 0, seed=1, config=FAST, n_jobs=1, progress=False)
    manifest = generate_cohort(
        tmp_path, 1, 0, seed=1, config=cfg, n_jobs=1, progress=False, overwrite=True
    )
    subj = read_cohort(manifest).subjects[0]
    assert subj.mask is not None
    img, mask = load_volume(subj.image), load_volume(subj.mask)
    assert np.all(img.data[mask.data == 0] == 0) and np.all(img.data[mask.data > 0] > 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_jobs": 0}, "n_jobs must be a whole number >= 1, found 0"),
        ({"n_normal": 0, "n_anomalous": 0}, "the cohort is empty"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = {"n_normal": 1, "n_anomalous": 0} | kwargs
    with pytest.raises(ConfigError, match=match):
        generate_cohort(
            tmp_path / "x", args.pop("n_normal"), args.pop("n_anomalous"), config=FAST, **args
        )


def test_output_must_be_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("not a folder")
    with pytest.raises(ConfigError, match="file.txt: output exists and is not a folder"):
        generate_cohort(target, 1, 0, config=FAST, n_jobs=1)
