from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from brainuad import __version__
from brainuad.cli.main import main
from uad_testing import write_manifest_rows


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("split", "validate"):
        assert cmd in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_split_command_writes_csv(small_cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "splits.csv"
    assert main(["split", str(small_cohort), "--out", str(out), "--seed", "1"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "subject_id,split,label,age" and len(lines) == 7


def test_bad_manifest_exits_2_with_report_and_writes_nothing(
    tmp_path: Path, nifti_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"subject_id": "a", "image": "missing.nii.gz", "age": "-1"}]
    manifest = write_manifest_rows(tmp_path, rows)
    out = tmp_path / "splits.csv"
    assert main(["split", str(manifest), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "image file not found" in err and "age must be >= 0" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_usage_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["split"]) == 2


def test_python_dash_m_entry_point(small_cohort: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "brainuad", "validate", str(small_cohort)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "6 scans (4 normal, 2 anomalous)" in proc.stdout
