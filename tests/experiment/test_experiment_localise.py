"""The study's localise stage on a tiny cohort with lesion masks: records, metrics, Table 2."""

from __future__ import annotations

import json
import time

import nibabel as nib
import numpy as np
import pytest
from study_helpers import TINY_PREPROCESS, write_tiny_cohort

from brainuad.experiment.config import study_config_from_dict
from brainuad.experiment.runner import run_study


@pytest.fixture(scope="module")
def lesion_study(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("lesion_study")
    manifest = write_tiny_cohort(root / "cohort", lesions=True)
    # one anomalous subject's mask is empty: warned about and left out of the voxel metrics
    empty = root / "cohort" / "sub-023_lesion.nii.gz"
    img = nib.load(str(empty))
    nib.save(nib.Nifti1Image(np.zeros(img.shape, np.uint8), img.affine), str(empty))
    cfg = study_config_from_dict(
        {
            "cohort": str(manifest),
            "output": str(root / "results"),
            "preset": "tiny",
            "methods": ["vae"],
            "epochs": 2,
            "jobs": 1,
            "preprocess": TINY_PREPROCESS,
            "split": {"healthy": [0.5, 0.25, 0.25], "anomalous": [0.5, 0.5]},
            "evaluation": {"n_resamples": 200},
        }
    )
    logs: list[str] = []
    start = time.perf_counter()
    result = run_study(cfg, progress=False, log=logs.append)
    return cfg, result, logs, time.perf_counter() - start


def test_localise_stage_writes_records_metrics_and_table2(lesion_study) -> None:  # type: ignore[no-untyped-def]
    cfg, result, logs, _ = lesion_study
    assert "localise:vae" in result.stages_run
    rec = json.loads((cfg.output / "localisation" / "vae.json").read_text())
    assert rec["method"] == "vae" and 0.0 <= rec["pooled"]["auroc"] <= 1.0
    assert 0.0 < rec["pooled"]["auprc"] <= 1.0
    assert rec["thresholds"]["fpr5"] <= rec["thresholds"]["fpr1"]
    assert rec["oracle"]["pooled_dice"] >= 0.0 and "upper bound" in rec["oracle"]["note"]
    dice = rec["dice"]
    for key in ("fpr1", "fpr5", "oracle"):
        assert 0.0 <= dice[key]["value"] <= 1.0
    # the oracle threshold looks at the test labels: no subject-mean below the 1% Dice's
    # pooled optimum is guaranteed, but the pooled oracle Dice bounds the pooled Dice at 1%
    lesion_rows = [r for r in rec["subjects"] if "dice_fpr1" in r]
    assert len(lesion_rows) == rec["n_test_lesion"]
    if "sub-023" in {r["subject_id"] for r in rec["subjects"]} or rec["excluded"]:
        assert [e["subject_id"] for e in rec["excluded"]] == ["sub-023"]
        assert any("sub-023" in line and "left out" in line for line in logs)
    metrics = json.loads(result.metrics_path.read_text())
    assert metrics["localisation"]["vae"] == rec
    html = result.report_path.read_text()
    assert "Table 2" in html and "Oracle Dice (upper bound)" in html
    assert (cfg.output / "report" / "tables" / "table2.csv").exists()


def test_localise_is_skipped_when_nothing_changed(lesion_study) -> None:  # type: ignore[no-untyped-def]
    cfg, _, _, seconds = lesion_study
    state = json.loads((cfg.output / "run_state.json").read_text())
    stage = state["stages"]["localise:vae"]
    print(f"tiny study {seconds:.1f} s; localise stage record {stage}")
    again = run_study(cfg, progress=False, log=lambda _: None)
    assert "localise:vae" not in again.stages_run and "evaluate" not in again.stages_run
