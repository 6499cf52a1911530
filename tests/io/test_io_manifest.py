from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brainuad.errors import InputFileError, ManifestError
from brainuad.io.manifest import read_cohort, read_manifest, write_manifest
from uad_testing import blob_volume, write_manifest_rows


def test_reads_manifest_with_relative_paths(small_cohort: Path) -> None:
    cohort = read_manifest(small_cohort)
    assert len(cohort) == 6
    assert cohort.ids == [f"s{i}" for i in range(6)]
    assert [s.label for s in cohort] == [0, 0, 0, 0, 1, 1]
    assert all(s.image.is_absolute() and s.image.exists() for s in cohort)
    assert cohort.subjects[2].age == 40.0


def test_tsv_and_missing_label_means_normal(tmp_path: Path, nifti_file: Path) -> None:
    path = tmp_path / "m.tsv"
    path.write_text("subject_id\timage\tage\tsite\nA\timg.nii.gz\t33.5\tX\n")
    cohort = read_cohort(path)
    assert cohort.subjects[0].label == 0
    assert cohort.subjects[0].extra == {"site": "X"}


def test_all_problems_are_reported_together(tmp_path: Path, nifti_file: Path) -> None:
    rows = [
        {"subject_id": "a", "image": "img.nii.gz", "age": "30", "label": "0"},
        {"subject_id": "a", "image": "img.nii.gz", "age": "31", "label": "0"},
        {"subject_id": "b", "image": "nope.nii.gz", "age": "40", "label": "0"},
        {"subject_id": "c", "image": "img.nii.gz", "age": "", "label": "0"},
        {"subject_id": "d", "image": "img.nii.gz", "age": "old", "label": "0"},
        {"subject_id": "e", "image": "img.nii.gz", "age": "-3", "label": "0"},
        {"subject_id": "f", "image": "img.nii.gz", "age": "130", "label": "0"},
        {"subject_id": "g", "image": "img.nii.gz", "age": "50", "label": "2"},
    ]
    path = write_manifest_rows(tmp_path, rows)
    with pytest.raises(ManifestError, match="7 problems") as info:
        read_manifest(path)
    text = str(info.value)
    for expected in (
        "duplicate subject_id",
        "image file not found",
        "missing age",
        "age must be a number",
        "age must be >= 0",
        "age must be <= 120",
        "label must be 0 (normal) or 1 (anomalous)",
    ):
        assert expected in text
    assert str(path) in text.splitlines()[0]


def test_missing_columns_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("id,image\nx,y.nii\n")
    with pytest.raises(ManifestError, match="missing column.*subject_id.*age"):
        read_manifest(path)
    with pytest.raises(InputFileError, match="manifest not found"):
        read_manifest(tmp_path / "absent.csv")


def test_age_optional_when_not_required(tmp_path: Path, nifti_file: Path) -> None:
    path = write_manifest_rows(tmp_path, [{"subject_id": "a", "image": "img.nii.gz", "age": ""}])
    assert read_manifest(path, require_age=False).subjects[0].age is None


def _bids(root: Path, with_session: bool) -> None:
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t34\nsub-02\t71\n")
    for sub in ("sub-01", "sub-02"):
        anat = root / sub / ("ses-1/anat" if with_session else "anat")
        anat.mkdir(parents=True)
        prefix = f"{sub}_ses-1" if with_session else sub
        img = nib.Nifti1Image(blob_volume(), np.eye(4))
        nib.save(img, str(anat / f"{prefix}_T1w.nii.gz"))


@pytest.mark.parametrize("with_session", [False, True])
def test_bids_dataset(tmp_path: Path, with_session: bool) -> None:
    _bids(tmp_path, with_session)
    cohort = read_cohort(tmp_path)
    assert [s.age for s in cohort] == [34.0, 71.0]
    expected = ["sub-01_ses-1", "sub-02_ses-1"] if with_session else ["sub-01", "sub-02"]
    assert cohort.ids == expected


def test_bids_problems(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="participants.tsv not found"):
        read_cohort(tmp_path)
    _bids(tmp_path, False)
    (tmp_path / "sub-03" / "anat").mkdir(parents=True)
    with pytest.raises(ManifestError, match="sub-03: folder exists but is not listed"):
        read_cohort(tmp_path)


def test_write_manifest_round_trip(small_cohort: Path, tmp_path: Path) -> None:
    cohort = read_manifest(small_cohort)
    out = write_manifest(tmp_path / "copy.csv", cohort.subjects)
    again = read_manifest(out)
    assert again.subjects == cohort.subjects


def test_row_with_more_fields_than_the_header(tmp_path: Path, nifti_file: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("subject_id,image,age\nA,img.nii.gz,30\nB,img.nii.gz,40,extra,more\n")
    with pytest.raises(
        ManifestError, match=r"(?s)m\.csv: 1 problem.*row 3: 5 fields, the header has 3"
    ):
        read_manifest(path)


def test_bom_crlf_and_short_rows(tmp_path: Path, nifti_file: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xef\xbb\xbfsubject_id,image,age,label\r\nA,img.nii.gz,30\r\n")
    cohort = read_manifest(path)
    assert cohort.ids == ["A"] and cohort.subjects[0].label == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("subject_id,image,age\nA,img.nii.gz,inf\n", "age must be >= 0 years, found inf"),
        ("subject_id,image,age\nA,img.nii.gz,-1\n", "age must be >= 0 years"),
        ("subject_id,image,age\nA,img.nii.gz,1e400\n", "age must be >= 0 years"),
        ("subject_id,image,age\nA,img.nii.gz,3O\n", "age must be a number of years"),
        ("subject_id,image,age,age\nA,img.nii.gz,3,4\n", "column.s. age appear more than once"),
        ("\n\n", "manifest is empty"),
    ],
)
def test_bad_cells_are_reported(tmp_path: Path, nifti_file: Path, content: str, message: str):
    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_latin1_and_folder_manifests(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes("subject_id,image,age\nJosé,img.nii.gz,30\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"m\.csv: manifest is not UTF-8 text"):
        read_manifest(path)
    folder = tmp_path / "f.csv"
    folder.mkdir()
    with pytest.raises(InputFileError, match=r"f\.csv: expected a CSV or TSV manifest file"):
        read_manifest(folder)


def test_bids_participants_tsv_hostile(tmp_path: Path) -> None:
    _bids(tmp_path, False)
    participants = tmp_path / "participants.tsv"
    participants.write_bytes("participant_id\tage\tsite\nsub-01\t34\tKöln\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"participants\.tsv: participants table is not UTF-8"):
        read_cohort(tmp_path)
    participants.write_text("participant_id\tage\nsub-01\t34\nsub-02\t71\textra\n")
    with pytest.raises(ManifestError, match=r"row 3: 3 fields, the header has 2"):
        read_cohort(tmp_path)
    participants.write_text("participant_id\tage\nsub-01\t34\n../other/sub-01\t71\n")
    with pytest.raises(ManifestError, match=r"participant_id must be sub-<letters/digits>"):
        read_cohort(tmp_path)
    participants.write_text("participant_id\tage\nsub-01\t34\nsub-01\t71\n")
    with pytest.raises(ManifestError, match=r"row 3: participant sub-01 is listed twice"):
        read_cohort(tmp_path)
    participants.unlink()
    participants.mkdir()
    with pytest.raises(InputFileError, match=r"participants\.tsv: expected a tab-separated"):
        read_cohort(tmp_path)


def test_bids_lesion_masks_next_to_the_scan_or_in_derivatives(tmp_path: Path) -> None:
    _bids(tmp_path, False)
    img = nib.Nifti1Image(blob_volume(), np.eye(4))
    nib.save(img, str(tmp_path / "sub-01" / "anat" / "sub-01_label-tumor_mask.nii.gz"))
    deriv = tmp_path / "derivatives" / "manual" / "sub-02" / "anat"
    deriv.mkdir(parents=True)
    nib.save(img, str(deriv / "sub-02_space-T1w_label-lesion_dseg.nii.gz"))
    nib.save(img, str(deriv / "sub-02_desc-brain_mask.nii.gz"))  # a brain mask: never a lesion
    cohort = read_cohort(tmp_path)
    masks = {s.subject_id: s.lesion_mask for s in cohort}
    assert masks["sub-01"] == tmp_path / "sub-01" / "anat" / "sub-01_label-tumor_mask.nii.gz"
    assert masks["sub-02"] == deriv / "sub-02_space-T1w_label-lesion_dseg.nii.gz"


def test_bids_two_lesion_masks_for_one_scan_are_refused(tmp_path: Path) -> None:
    _bids(tmp_path, False)
    img = nib.Nifti1Image(blob_volume(), np.eye(4))
    anat = tmp_path / "sub-01" / "anat"
    nib.save(img, str(anat / "sub-01_label-tumor_mask.nii.gz"))
    nib.save(img, str(anat / "sub-01_label-lesion_mask.nii.gz"))
    with pytest.raises(ManifestError, match="sub-01: expected at most one lesion mask, found"):
        read_cohort(tmp_path)
