"""Reading the input BIDS dataset: selection, sessions and their ages."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainuad.bids import read_dataset
from brainuad.bids.dataset import normalise_labels
from brainuad.errors import ConfigError, InputFileError
from conftest import write_bids


def test_scans_ages_and_selection(tmp_path: Path) -> None:
    root = write_bids(tmp_path / "bids")
    data = read_dataset(root)
    assert data.participants == ("sub-01", "sub-02", "sub-03")
    assert [(s.scan_id, s.session, s.age) for s in data.scans] == [
        ("sub-01", None, 45.0),
        ("sub-02_ses-1", "ses-1", 60.0),
        ("sub-03", None, None),
    ]
    assert data.scans[1].relpath == "sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz"
    only = read_dataset(root, ["sub-03", "01"])
    assert only.participants == ("sub-01", "sub-03")
    assert [s.scan_id for s in only.scans] == ["sub-01", "sub-03"]
    assert normalise_labels(["02", "sub-02", "01"]) == ["01", "02"]


def test_session_ages_and_filters(tmp_path: Path) -> None:
    root = write_bids(tmp_path / "bids", {"sub-01": ("ses-1", "50", 1, False)})
    second = root / "sub-01" / "ses-2" / "anat"
    second.mkdir(parents=True)
    (second / "sub-01_ses-2_T1w.nii.gz").write_bytes(
        (root / "sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz").read_bytes()
    )
    (second / "sub-01_ses-2_bold.nii.gz").write_bytes(b"x")  # not a T1w: ignored
    (root / "sub-01" / "sub-01_sessions.tsv").write_text(
        "session_id\tage\nses-1\tn/a\nses-2\t52.5\n"
    )
    data = read_dataset(root)
    # ses-1: n/a in sessions.tsv -> the participant's age; ses-2: its own
    assert [(s.scan_id, s.age) for s in data.scans] == [
        ("sub-01_ses-1", 50.0),
        ("sub-01_ses-2", 52.5),
    ]
    assert [s.scan_id for s in read_dataset(root, session_labels=["2"]).scans] == ["sub-01_ses-2"]


def test_missing_participants_tsv_is_a_warning_and_bad_tables_errors(tmp_path: Path) -> None:
    root = write_bids(tmp_path / "bids")
    (root / "participants.tsv").unlink()
    data = read_dataset(root)
    assert all(s.age is None for s in data.scans) and "no participants.tsv" in data.warnings[0]
    (root / "participants.tsv").write_text("id\tage\nsub-01\t3\n")
    with pytest.raises(InputFileError, match="participant_id column"):
        read_dataset(root)
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t130\n")
    with pytest.raises(InputFileError, match="age must be 0-120 years, found 130"):
        read_dataset(root)
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t3\nsub-01\t4\n")
    with pytest.raises(InputFileError, match="listed twice"):
        read_dataset(root)
    with pytest.raises(ConfigError, match="expected BIDS labels"):
        read_dataset(root, ["01/.."])
