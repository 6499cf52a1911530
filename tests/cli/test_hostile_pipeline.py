"""Hostile inputs that do get past the door: a noise volume is kept out of the cache by QC,
and a study whose every scan fails stops with the reason."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from bad_input_helpers import head

from brainuad.cli.main import main


def _noise(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    nib.save(nib.Nifti1Image(rng.random((5, 5, 5)).astype(np.float32), np.eye(4)), str(path))
    return path


def test_noise_volume_fails_qc_and_stays_out_of_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _noise(tmp_path / "noise.nii.gz", 0)
    data, affine = head(0)
    nib.save(nib.Nifti1Image(data, affine), str(tmp_path / "ok.nii.gz"))
    manifest = tmp_path / "m.csv"
    manifest.write_text("subject_id,image,age\nnoise,noise.nii.gz,40\nok,ok.nii.gz,50\n")
    argv = ["preprocess", str(manifest), "-o", str(tmp_path / "cache"), "--skull-strip", "none"]
    status = main([*argv, "--no-register", "--jobs", "1"])
    out = capsys.readouterr()
    assert status == 0, out.err
    errors = (tmp_path / "cache" / "errors.csv").read_text()
    assert "noise" in errors and "implausible brain volume" in errors
    from brainuad.io.cache import open_cache

    assert list(open_cache(tmp_path / "cache").subjects["subject_id"]) == ["ok"]


def test_study_where_every_scan_fails_stops_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        _noise(tmp_path / f"n{i}.nii.gz", i)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "subject_id,image,age,label\n" + "".join(f"n{i},n{i}.nii.gz,{40 + i},0\n" for i in range(3))
    )
    cfg = tmp_path / "study.yaml"
    cfg.write_text(
        f"cohort: {manifest}\noutput: {tmp_path / 'res'}\npreset: tiny\n"
        "preprocess: {skull_strip: none, register: false}\njobs: 1\n"
    )
    status = main(["run", str(cfg), "-q"])
    err = capsys.readouterr().err
    assert status == 2, err
    line = next(ln for ln in err.splitlines() if ln.startswith("error:"))
    assert "errors.csv: preprocessing failed for every scan (3 of 3)" in line
    assert "implausible brain volume" in line
    assert "not a brainuad cache" not in err
