"""``brainuad cohort brats``: fake BraTS 2020 and 2019 downloads."""

from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from cohort_fakes import write_brats2019, write_brats2020

from brainuad.cli.main import main
from brainuad.cohorts import build_brats, report_path, write_build
from brainuad.cohorts.brats import release_of
from brainuad.errors import InputFileError
from brainuad.io.manifest import read_manifest


def _report(manifest: Path) -> dict[str, tuple[str, str]]:
    with open(report_path(manifest), newline="", encoding="utf-8") as f:
        return {r["subject_id"]: (r["action"], r["reason"]) for r in csv.DictReader(f)}


def test_brats2020_layout(tmp_path: Path) -> None:
    ages = {1: "60.463", 2: "52.263", 3: "", 5: "71.1"}  # 3: empty age, 4: not in the table
    data = write_brats2020(tmp_path, [1, 2, 3, 4, 5], ages, odd_seg=5)
    build = build_brats(data)  # survival_info.csv found inside
    manifest, _ = write_build(build, tmp_path / "brats.csv")
    cohort = read_manifest(manifest)
    by_id = cohort.by_id()
    assert sorted(by_id) == ["BraTS20_Training_001", "BraTS20_Training_002", "BraTS20_Training_005"]
    assert by_id["BraTS20_Training_001"].age == pytest.approx(60.463)
    for s in cohort:
        assert s.label == 1 and s.extra["dataset"] == "BraTS2020"
        assert s.image.name == f"{s.subject_id}_t1.nii.gz"  # the native T1, never T1ce
        assert s.lesion_mask is not None and s.lesion_mask.is_file()
    assert by_id["BraTS20_Training_005"].lesion_mask.name == "W39_1998.09.19_Segm.nii"
    assert by_id["BraTS20_Training_001"].extra["grade"] == "HGG"
    assert by_id["BraTS20_Training_002"].extra["grade"] == "LGG"
    # the segmentation's labels 1, 2 and 4 are all tumour: what the preprocessing reads (> 0)
    seg = np.asarray(nib.load(str(by_id["BraTS20_Training_001"].lesion_mask)).dataobj)
    assert set(np.unique(seg)) == {0, 1, 2, 4}
    entries = _report(manifest)
    assert entries["BraTS20_Training_003"] == (
        "excluded",
        "no age in survival_info.csv (row 4)",
    )
    assert entries["BraTS20_Training_004"] == ("excluded", "no age in survival_info.csv")
    assert set(entries) == {"BraTS20_Training_003", "BraTS20_Training_004"}
    text = build.summary(manifest, report_path(manifest))
    assert "3 BraTS subjects, ages 52.3-71.1 y" in text and "grade: HGG 2, LGG 1" in text
    assert "excluded 2 (no age: 2)" in text


def test_brats2019_layout(tmp_path: Path) -> None:
    hgg = ["BraTS19_CBICA_AAB_1", "BraTS19_TCIA01_131_1", "BraTS19_2013_10_1"]
    lgg = ["BraTS19_TMC_09043_1"]
    ages = {hgg[0]: "60.5", hgg[1]: "47.0", hgg[2]: "66.2", "BraTS19_CBICA_ZZZ_1": "50"}
    data = write_brats2019(tmp_path, hgg, lgg, ages, no_seg=[hgg[2]])
    build = build_brats(tmp_path, data / "survival_data.csv")
    manifest, _ = write_build(build, tmp_path / "out" / "brats19.csv")
    cohort = read_manifest(manifest)
    assert sorted(cohort.ids) == sorted(hgg)
    assert {s.extra["grade"] for s in cohort} == {"HGG"}
    assert {s.extra["dataset"] for s in cohort} == {"BraTS2019"}
    assert cohort.by_id()[hgg[2]].lesion_mask is None
    entries = _report(manifest)
    assert entries[lgg[0]] == ("excluded", "no age in survival_data.csv")
    assert entries[hgg[2]][0] == "kept" and "no segmentation" in entries[hgg[2]][1]
    text = build.summary(manifest, report_path(manifest))
    assert "1 id(s) of survival_data.csv have no T1 file" in text and "BraTS19_CBICA_ZZZ_1" in text


def test_release_names() -> None:
    assert release_of("BraTS20_Training_001") == "BraTS2020"
    assert release_of("Brats18_2013_2_1") == "BraTS2018"
    assert release_of("case_7") == "BraTS"


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="BraTS folder not found"):
        build_brats(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"no BraTS T1 files found \(expected"):
        build_brats(tmp_path / "empty")
    data = write_brats2020(tmp_path / "a", [1], {1: "50"})
    (data / "survival_info.csv").unlink()
    with pytest.raises(InputFileError, match=r"no ages file \(survival_info.csv or .*--ages"):
        build_brats(data)
    bad = tmp_path / "ages.csv"
    bad.write_text("Patient,Years\nBraTS20_Training_001,50\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"ages.csv: expected a column for the subject id"):
        build_brats(data, bad)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_brats2020(tmp_path, [1, 2], {1: "60", 2: "n/a"})
    out = tmp_path / "brats.csv"
    ages = data / "survival_info.csv"
    assert main(["cohort", "brats", str(tmp_path), "--ages", str(ages), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: 1 BraTS subjects" in printed and "excluded 1 (no age: 1)" in printed
    assert read_manifest(out).ids == ["BraTS20_Training_001"]
    code = main(["cohort", "brats", str(tmp_path / "nope"), "--out", str(out)])
    assert code == 2 and "BraTS folder not found" in capsys.readouterr().err
