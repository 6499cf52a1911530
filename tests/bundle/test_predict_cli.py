"""``brainuad export`` and ``brainuad predict``: outputs, cohorts, bad inputs writing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from bundle_helpers import lesion_for, make_head, save_nifti

from brainuad.cli.main import main


@pytest.fixture(scope="module")
def tumour_scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tumour phantom stored in LPS orientation with a shifted origin (a scanner's choice)."""
    data, affine, _ = make_head(105, lesion=lesion_for(105))
    img = nib.Nifti1Image(data, affine)
    ornt = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(affine), nib.orientations.axcodes2ornt(("L", "P", "S"))
    )
    path = tmp_path_factory.mktemp("scans") / "sub-07_T1w.nii.gz"
    nib.save(img.as_reoriented(ornt), str(path))
    return path


def test_predict_cli_single_scan_outputs(
    bundle_dir: Path, tumour_scan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["predict", str(bundle_dir), str(tumour_scan), "--age", "63", "--out", str(out)])
    assert code == 0
    assert "sub-07_T1w: combined" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "predictions.csv",
        "sub-07_T1w.json",
        "sub-07_T1w_anomaly.nii.gz",
        "sub-07_T1w_lesions.nii.gz",
        "sub-07_T1w_overview.png",
    ]
    record = json.loads((out / "sub-07_T1w.json").read_text())
    assert record["schema"] == "brainuad-prediction/1" and record["age"] == 63.0
    assert set(record["scores"]) == {"rec", "kl", "age", "combined"}
    assert record["operating_points"]["spec95"]["flagged"] is True
    assert record["brain_age"]["gap"] == pytest.approx(record["brain_age"]["predicted"] - 63)
    assert record["files"]["anomaly_map"] == "sub-07_T1w_anomaly.nii.gz"
    src, amap = nib.load(str(tumour_scan)), nib.load(str(out / "sub-07_T1w_anomaly.nii.gz"))
    assert amap.shape == src.shape
    np.testing.assert_allclose(amap.affine, src.affine, atol=1e-5)
    peak = np.unravel_index(int(np.argmax(np.asarray(amap.dataobj))), amap.shape)
    assert list(peak) == record["anomaly_map"]["max_voxel"]
    png = (out / "sub-07_T1w_overview.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    table = pd.read_csv(out / "predictions.csv")
    assert table["subject_id"].tolist() == ["sub-07_T1w"]
    assert table.loc[0, "flag_spec95"] == 1 and table.loc[0, "age"] == 63

    # predicting again (another id) into the same folder adds a row, the same id replaces it
    assert main(["predict", str(bundle_dir), str(tumour_scan), "--id", "x", "--out", str(out)]) == 0
    assert main(["predict", str(bundle_dir), str(tumour_scan), "--id", "x", "--out", str(out)]) == 0
    table = pd.read_csv(out / "predictions.csv")
    assert table["subject_id"].tolist() == ["sub-07_T1w", "x"]
    assert np.isnan(table.loc[1, "age"]) and np.isnan(table.loc[1, "brain_age_gap"])


def _four_d(path: Path) -> Path:
    data, affine, _ = make_head(1)
    nib.save(nib.Nifti1Image(np.stack([data, data], axis=-1), affine), str(path))
    return path


def _bad_cases(tmp_path: Path, bundle_dir: Path, scan: Path) -> dict[str, tuple[list[str], str]]:
    tampered = Path(shutil.copytree(bundle_dir, tmp_path / "tampered"))
    weights = tampered / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    old = Path(shutil.copytree(bundle_dir, tmp_path / "old"))
    record = json.loads((old / "bundle.json").read_text())
    record["format_version"] = 7
    (old / "bundle.json").write_text(json.dumps(record))
    b = str(bundle_dir)
    return {
        "age too high": ([b, str(scan), "--age", "130"], "between 0 and 120"),
        "negative age": ([b, str(scan), "--age", "-3"], "between 0 and 120"),
        "age not a number": ([b, str(scan), "--age", "sixty"], "expected an age in years"),
        "4D image": ([b, str(_four_d(tmp_path / "fmri.nii.gz")), "--age", "50"], "4D series"),
        "tampered weights": ([str(tampered), str(scan), "--age", "50"], "SHA-256"),
        "other version": ([str(old), str(scan)], "format version 7"),
        "missing scan": ([b, str(tmp_path / "nope.nii.gz")], "file not found"),
        "not a scan": ([b, str(tmp_path / "notes.txt")], "expected a NIfTI scan"),
        "age with manifest": ([b, str(tmp_path / "m.csv"), "--age", "40"], "single scan"),
    }


def test_predict_cli_bad_inputs_write_nothing(
    bundle_dir: Path, tumour_scan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (args, message) in _bad_cases(tmp_path, bundle_dir, tumour_scan).items():
        out = tmp_path / f"out-{name.replace(' ', '-')}"
        code = main(["predict", *args, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2, name
        assert err.startswith("error: ") and message in err, (name, err)
        assert len(err.strip().splitlines()) == 1, name
        assert not out.exists(), name


def test_predict_cli_cohort_goes_on_after_failures(
    bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, seed in enumerate((100, 106)):
        data, affine, _ = make_head(seed)
        save_nifti(tmp_path / f"n{i}.nii.gz", data, affine)
    (tmp_path / "broken.nii.gz").write_bytes(b"not an image")
    manifest = tmp_path / "scans.csv"
    manifest.write_text(
        "subject_id,image,age\nn0,n0.nii.gz,40\nbad,broken.nii.gz,50\nn1,n1.nii.gz,\n"
    )
    out = tmp_path / "out"
    args = ["predict", str(bundle_dir), str(manifest), "--out", str(out), "--batch-size", "2"]
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 1
    captured = capsys.readouterr()
    assert "FAILED bad" in captured.err and "2/3 scan(s) assessed" in captured.out
    table = pd.read_csv(out / "predictions.csv")
    assert table["subject_id"].tolist() == ["n0", "n1"]
    gamma = json.loads((bundle_dir / "bundle.json").read_text())["combined_weights"]["gamma"]
    assert table["flag_spec95"].iloc[0] == 0
    # n1 has no age: with an age term in the combined score its flag is unavailable
    assert pd.isna(table["flag_spec95"].iloc[1]) == (gamma > 0)
    errors = pd.read_csv(out / "errors.csv")
    assert errors["subject_id"].tolist() == ["bad"] and "broken.nii.gz" in errors.loc[0, "error"]
    assert not list(out.glob("bad*"))
    assert (out / "n1.json").is_file() and (out / "n1_anomaly.nii.gz").is_file()


def test_predict_cli_export_prints_the_operating_points(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(study), "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "exported vae-ap" in out and "spec95: flag when combined >=" in out
    assert (tmp_path / "m" / "bundle.json").is_file()
    assert main(["export", str(study), "--out", str(tmp_path / "m2"), "--method", "vae"]) == 2
    assert "was not evaluated" in capsys.readouterr().err
