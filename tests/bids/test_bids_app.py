"""``brainuad bids``: participant level (derivatives, skips, failures) and group level."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainuad.cli.main import main
from conftest import write_bids


def _participant(bids: Path, out: Path, model: Path, *extra: str) -> int:
    return main(["bids", str(bids), str(out), "participant", "--model", str(model), *extra])


def _outputs(out: Path) -> list[str]:
    root = out / "brainuad"
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".brainuad.lock"
    )


def test_participants_then_group_write_valid_derivatives(
    bids_dir: Path, model_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    # two array tasks: the BIDS-Apps way of giving several labels, then one more participant
    assert _participant(bids_dir, out, model_bundle, "--participant-label", "01", "sub-02") == 0
    assert _participant(bids_dir, out, model_bundle, "--participant_label", "03") == 0
    printed = capsys.readouterr().out
    assert "sub-02: 1/1 scan(s) screened" in printed and "sub-03: 1/1" in printed
    assert _outputs(out) == [
        "dataset_description.json",
        "sub-01/anat/sub-01_desc-anomaly_map.json",
        "sub-01/anat/sub-01_desc-anomaly_map.nii.gz",
        "sub-01/figures/sub-01_desc-anomaly_overview.png",
        "sub-01/log/status.json",
        "sub-02/figures/sub-02_ses-1_desc-anomaly_overview.png",
        "sub-02/log/status.json",
        "sub-02/ses-1/anat/sub-02_ses-1_desc-anomaly_map.json",
        "sub-02/ses-1/anat/sub-02_ses-1_desc-anomaly_map.nii.gz",
        "sub-03/anat/sub-03_desc-anomaly_map.json",
        "sub-03/anat/sub-03_desc-anomaly_map.nii.gz",
        "sub-03/figures/sub-03_desc-anomaly_overview.png",
        "sub-03/log/status.json",
    ]
    root = out / "brainuad"
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "brainuad"
    bundle = json.loads((model_bundle / "bundle.json").read_text())
    assert description["BrainuadModel"]["weights_sha256"] == bundle["weights"]["sha256"]

    # pybids reads the derivatives with their entities and sidecars
    from bids import BIDSLayout

    layout = BIDSLayout(bids_dir, derivatives=root)
    maps = layout.derivatives["brainuad"].get(desc="anomaly", suffix="map", extension=".nii.gz")
    entities = sorted((f.entities["subject"], f.entities.get("session")) for f in maps)
    assert entities == [("01", None), ("02", "1"), ("03", None)]
    session_map = [f for f in maps if f.entities.get("session") == "1"][0]
    sidecar = session_map.get_metadata()
    assert sidecar["Sources"] == ["bids:raw:sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz"]
    assert sidecar["schema"] == "brainuad-prediction/1" and sidecar["age"] == 60.0
    assert sidecar["brain_age"]["gap"] == pytest.approx(sidecar["brain_age"]["predicted"] - 60)
    source = nib.load(str(bids_dir / "sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz"))
    amap = nib.load(session_map.path)
    assert amap.shape == source.shape
    np.testing.assert_allclose(amap.affine, source.affine, atol=1e-5)

    # the participant without an age: scores that need it unavailable, the rest is there
    no_age = json.loads((root / "sub-03/anat/sub-03_desc-anomaly_map.json").read_text())
    assert no_age["age"] is None and no_age["scores"]["age"]["value"] is None
    assert no_age["scores"]["rec"]["value"] > 0 and "unavailable" in no_age["scores"]["combined"]

    assert main(["bids", str(bids_dir), str(out), "group"]) == 0
    assert "3 scan(s) of 3 participant(s): 3 ok, 0 failed, 0 not run" in capsys.readouterr().out
    table = pd.read_csv(root / "group_scores.tsv", sep="\t", na_values="n/a", keep_default_na=False)
    assert table["scan_id"].tolist() == ["sub-01", "sub-02_ses-1", "sub-03"]
    assert table["session_id"].isna().tolist() == [True, False, True]
    assert table["age"].tolist()[:2] == [45.0, 60.0] and np.isnan(table["age"].iloc[2])
    for sid, col in (("sub-01", "rec"), ("sub-02_ses-1", "combined"), ("sub-02_ses-1", "kl")):
        record = json.loads(next(root.rglob(f"{sid}_desc-anomaly_map.json")).read_text())
        score = {"rec": "rec", "kl": "kl", "combined": "combined"}[col]
        assert table.set_index("scan_id").loc[sid, col] == pytest.approx(
            record["scores"][score]["value"], rel=1e-12
        )
    assert {"flag_spec95", "brain_age_gap", "anomaly_map"} <= set(table.columns)
    assert np.isnan(table["brain_age_gap"].iloc[2])
    columns = json.loads((root / "group_scores.json").read_text())
    assert set(columns) == set(table.columns) and "Description" in columns["rec"]
    page = (root / "group_report.html").read_text()
    assert "Score distributions" in page and "data:image/png;base64," in page
    assert "Brain-age gap vs age" in page and "Every scan was screened." in page


def test_rerun_skips_finished_participants(
    bids_dir: Path, model_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _participant(bids_dir, out, model_bundle, "--participant-label", "01") == 0
    sidecar = out / "brainuad/sub-01/anat/sub-01_desc-anomaly_map.json"
    before = sidecar.stat().st_mtime_ns, sidecar.read_bytes()
    capsys.readouterr()
    assert _participant(bids_dir, out, model_bundle) == 0
    printed = capsys.readouterr().out
    assert "sub-01: already done (1 scan(s)), skipped" in printed
    assert "sub-02: 1/1 scan(s) screened" in printed
    assert "3 participant(s): 2 screened, 1 already done, 0 failed" in printed
    assert (sidecar.stat().st_mtime_ns, sidecar.read_bytes()) == before
    # a scan whose outputs were lost is screened again, its participant's others are not
    (out / "brainuad/sub-03/anat/sub-03_desc-anomaly_map.json").unlink()
    assert _participant(bids_dir, out, model_bundle) == 0
    printed = capsys.readouterr().out
    assert "sub-03: 1/1 scan(s) screened" in printed and "2 already done" in printed


def test_a_failing_participant_is_reported_and_the_others_finish(
    bids_dir: Path, model_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = bids_dir / "sub-04" / "anat"
    broken.mkdir(parents=True)
    (broken / "sub-04_T1w.nii.gz").write_bytes(b"not an image")
    (bids_dir / "sub-05" / "anat").mkdir(parents=True)  # a participant without any T1w
    with open(bids_dir / "participants.tsv", "a") as f:
        f.write("sub-04\t50\nsub-05\t51\n")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        _participant(bids_dir, out, model_bundle, "--batch-size", "2")
    assert stop.value.code == 1
    captured = capsys.readouterr()
    assert "sub-04: 0/1 scan(s) screened; FAILED sub-04:" in captured.out
    assert "sub-05: 0/0 scan(s) screened; FAILED sub-05: no T1w scan" in captured.out
    assert "5 participant(s): 3 screened, 0 already done, 2 failed" in captured.out
    assert "error: 2 participant(s) failed" in captured.err
    status = json.loads((out / "brainuad/sub-04/log/status.json").read_text())
    assert status["status"] == "failed" and "sub-04" in status["scans"]
    assert "not a readable NIfTI" in status["scans"]["sub-04"]["error"]
    assert not list((out / "brainuad/sub-04").rglob("*_map.*"))

    assert main(["bids", str(bids_dir), str(out), "group"]) == 0
    table = pd.read_csv(out / "brainuad/group_scores.tsv", sep="\t", keep_default_na=False)
    by_id = table.set_index("participant_id")
    assert by_id.loc["sub-04", "status"] == "failed"
    assert "not a readable NIfTI" in by_id.loc["sub-04", "error"]
    assert by_id.loc["sub-05", "status"] == "failed" and "no T1w" in by_id.loc["sub-05", "error"]
    assert (table["status"] == "ok").sum() == 3
    page = (out / "brainuad/group_report.html").read_text()
    assert "Failed or not run (2)" in page and "not a readable NIfTI" in page


def test_group_lists_participants_not_run_yet(
    bids_dir: Path, model_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["bids", str(bids_dir), str(out), "group"]) == 2
    assert "run the participant level first" in capsys.readouterr().err
    assert _participant(bids_dir, out, model_bundle, "--participant-label", "02") == 0
    assert main(["bids", str(bids_dir), str(out), "group"]) == 0
    table = pd.read_csv(out / "brainuad/group_scores.tsv", sep="\t", keep_default_na=False)
    assert table["status"].tolist() == ["not run", "ok", "not run"]


def _bad_inputs(tmp_path: Path, bids: Path, model: Path) -> dict[str, tuple[list[str], str]]:
    no_description = write_bids(tmp_path / "nodesc")
    (no_description / "dataset_description.json").unlink()
    bad_age = write_bids(tmp_path / "badage")
    (bad_age / "participants.tsv").write_text("participant_id\tage\nsub-01\tsixty\n")
    b, o, m = str(bids), str(tmp_path / "o"), str(model)
    return {
        "not BIDS": ([str(no_description), o, "participant", "--model", m], "dataset_descr"),
        "unknown label": (
            [b, o, "participant", "--model", m, "--participant-label", "09"],
            "--participant-label: 09 not found",
        ),
        "bad label": (
            [b, o, "participant", "--model", m, "--participant-label", "0_1"],
            "expected BIDS labels",
        ),
        "bad age": (
            [str(bad_age), o, "participant", "--model", m],
            "row 2 (sub-01): age must be a number of years, found 'sixty'",
        ),
        "no model": ([b, o, "participant"], "needs --model BUNDLE"),
        "bad level": ([b, o, "subject", "--model", m], "expected participant or group"),
        "inside": ([b, str(bids / "out"), "participant", "--model", m], "lies inside BIDS_DIR"),
        "group label": ([b, o, "group", "--participant-label", "01"], "participant level"),
        "stray arg": ([b, o, "participant", "--model", m, "extra"], "unexpected argument"),
        "no such dir": ([str(tmp_path / "nope"), o, "group"], "BIDS_DIR not found"),
    }


def test_bad_inputs_end_with_one_line_and_write_nothing(
    bids_dir: Path, model_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (args, message) in _bad_inputs(tmp_path, bids_dir, model_bundle).items():
        code = main(["bids", *args])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert err.startswith("error: ") and message in err, (name, err)
        assert len(err.strip().splitlines()) == 1, name
        assert not (tmp_path / "o").exists() and not (bids_dir / "out").exists(), name


def test_derivatives_of_another_model_are_not_mixed(
    bids_dir: Path, model_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bundle_helpers import handmade_bundle

    from brainuad.bundle import CombinedWeights

    out = tmp_path / "out"
    assert _participant(bids_dir, out, model_bundle, "--participant-label", "01") == 0
    other = handmade_bundle(tmp_path / "other", "vae", weights=CombinedWeights(1, 1, 0), seed=3)
    assert _participant(bids_dir, out, other, "--participant-label", "02") == 2
    assert "made with another model" in capsys.readouterr().err
    assert not (out / "brainuad" / "sub-02").exists()


def test_missing_pybids_is_a_one_line_error(
    bids_dir: Path,
    model_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "bids", None)
    assert _participant(bids_dir, tmp_path / "o", model_bundle) == 2
    err = capsys.readouterr().err
    assert "pip install 'brainuad[bids]'" in err and len(err.strip().splitlines()) == 1
