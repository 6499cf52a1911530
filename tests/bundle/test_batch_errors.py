"""One bad scan never sinks a batch: the good scans are written, errors.csv names the bad one.

The bad scan is a truncated ``.nii.gz`` stored in LPS orientation: reorienting it to RAS reads
its voxels, which once happened outside the error handling of ``load_volume`` (click turned the
``EOFError`` into ``Aborted.``, exit 130, and nothing was written).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import pandas as pd
import pytest
from bundle_helpers import handmade_bundle, make_head, save_nifti

import brainuad.bundle.batch as batch
from brainuad.bundle import CombinedWeights
from brainuad.cli.main import main
from brainuad.errors import InputFileError
from brainuad.io.nifti import load_volume


def _truncated_lps(path: Path, seed: int = 5) -> Path:
    data, affine, _ = make_head(seed)
    img = nib.Nifti1Image(data, affine)
    ornt = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(affine), nib.orientations.axcodes2ornt(("L", "P", "S"))
    )
    nib.save(img.as_reoriented(ornt), str(path))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch-bundle")
    return handmade_bundle(root / "bundle", "vae", weights=CombinedWeights(1.0, 1.0, 0.0))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch-scans")
    rows = ["subject_id,image,age"]
    for i in range(3):
        data, affine, _ = make_head(i)
        save_nifti(root / f"s{i}.nii.gz", data, affine)
        rows.append(f"s{i},s{i}.nii.gz,{40 + i}")
    _truncated_lps(root / "bad.nii.gz")
    rows.insert(2, "bad,bad.nii.gz,50")
    (root / "scans.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "scans.csv"


def test_truncated_non_ras_scan_is_an_input_error(tmp_path: Path) -> None:
    path = _truncated_lps(tmp_path / "bad.nii.gz")
    with pytest.raises(InputFileError, match=r"bad\.nii\.gz: truncated or corrupt"):
        load_volume(path)


def test_predict_writes_the_good_scans_and_lists_the_bad_one(
    bundle: Path, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:  # exit status 1, as the process's
        main(["predict", str(bundle), str(manifest), "--out", str(out), "--batch-size", "2"])
    err = capsys.readouterr().err
    assert stop.value.code == 1, err
    assert "Traceback" not in err and "Aborted" not in err
    assert sorted(pd.read_csv(out / "predictions.csv")["subject_id"]) == ["s0", "s1", "s2"]
    errors = pd.read_csv(out / "errors.csv")
    assert errors["subject_id"].tolist() == ["bad"]
    assert "bad.nii.gz: truncated or corrupt" in errors.loc[0, "error"]
    assert f"failures listed in {out / 'errors.csv'}" in err
    assert {p.name for p in out.glob("s*.json")} == {"s0.json", "s1.json", "s2.json"}


def test_a_scan_the_model_fails_on_is_isolated(
    bundle: Path,
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = batch.predict_preprocessed

    def fails_on_s1(bundle, scans, subjects):  # type: ignore[no-untyped-def]
        if any(s.subject_id == "s1" for s in scans):
            raise InputFileError("s1.nii.gz", "the model's output is not finite")
        return real(bundle, scans, subjects)

    monkeypatch.setattr(batch, "predict_preprocessed", fails_on_s1)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(bundle), str(manifest), "--out", str(out), "--batch-size", "4"])
    assert stop.value.code == 1, capsys.readouterr().err
    assert sorted(pd.read_csv(out / "predictions.csv")["subject_id"]) == ["s0", "s2"]
    errors = pd.read_csv(out / "errors.csv").set_index("subject_id")["error"]
    assert sorted(errors.index) == ["bad", "s1"] and "not finite" in errors["s1"]


def test_a_single_bad_scan_is_refused_and_writes_nothing(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = _truncated_lps(tmp_path / "one.nii.gz")
    out = tmp_path / "out"
    code = main(["predict", str(bundle), str(scan), "--age", "50", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "one.nii.gz: truncated or corrupt" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
