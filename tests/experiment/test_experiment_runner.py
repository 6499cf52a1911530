"""The whole study on a tiny cohort: outputs, report tables, skipping, kill + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from study_helpers import TINY_PREPROCESS, write_tiny_cohort

from brainuad.errors import ConfigError
from brainuad.experiment.config import study_config_from_dict
from brainuad.experiment.runner import run_study


def _config(root: Path, manifest: Path, **extra: object):  # type: ignore[no-untyped-def]
    raw = {
        "cohort": str(manifest),
        "output": str(root / "results"),
        "preset": "tiny",
        "epochs": 2,
        "jobs": 1,
        "preprocess": TINY_PREPROCESS,
        "split": {"healthy": [0.5, 0.25, 0.25], "anomalous": [0.5, 0.5]},
        "evaluation": {"n_resamples": 200},
        **extra,
    }
    return study_config_from_dict(raw)


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("study")
    manifest = write_tiny_cohort(root / "cohort")
    cfg = _config(root, manifest)
    logs: list[str] = []
    result = run_study(cfg, progress=False, log=logs.append)
    return cfg, result, logs


def test_study_writes_every_artefact(finished_study) -> None:  # type: ignore[no-untyped-def]
    cfg, result, _ = finished_study
    out = cfg.output
    for rel in ("config.yaml", "run_state.json", "splits.csv", "metrics.json", "metrics.csv"):
        assert (out / rel).is_file(), rel
    for method in ("vae", "vae-ac", "vae-ap"):
        scores = pd.read_csv(out / "scores" / f"{method}.csv")
        assert set(scores["split"]) == {"val", "test"}
        assert scores["age_pred"].notna().all() == (method == "vae-ap")
        assert (out / "examples" / f"{method}.npz").is_file()
        assert (out / "runs" / method / "checkpoints" / "best.safetensors").is_file()
    assert result.report_path is not None and result.report_path.is_file()
    assert "vae-ap" in result.table1 and "AUC (%)" in result.table1


def test_report_table1_matches_metrics(finished_study) -> None:  # type: ignore[no-untyped-def]
    cfg, result, _ = finished_study
    metrics = json.loads((cfg.output / "metrics.json").read_text())
    table = pd.read_csv(result.report_path.parent / "tables" / "table1.csv", keep_default_na=False)
    assert list(table.iloc[:, 0]) == [m["method"] for m in metrics["methods"]]
    html = result.report_path.read_text()
    for m in metrics["methods"]:
        auc = 100 * m["scores"]["combined"]["auc"]["value"]
        assert f"{auc:.2f}" in html


def test_second_run_skips_every_stage(finished_study) -> None:  # type: ignore[no-untyped-def]
    cfg, first, _ = finished_study
    logs: list[str] = []
    again = run_study(cfg, progress=False, log=logs.append)
    assert again.stages_run == ()
    assert again.table1 == first.table1
    assert any("[train:vae] up to date, skipped" in line for line in logs)


def test_changed_setting_reruns_only_downstream(finished_study, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg, _, _ = finished_study
    changed = study_config_from_dict({**cfg.to_dict(), "evaluation": {"n_resamples": 300}})
    result = run_study(changed, progress=False, log=lambda _: None)
    assert result.stages_run[0] == "evaluate"
    assert not any(s.startswith(("train", "score", "preprocess")) for s in result.stages_run)


def test_bad_preprocess_key_names_the_config(tmp_path: Path) -> None:
    # refused where the config is read (before any output is written), naming its source
    manifest = write_tiny_cohort(tmp_path / "cohort", n_normal=4, n_anomalous=2)
    with pytest.raises(ConfigError, match="<config>: preprocess: unknown preprocessing"):
        _config(tmp_path, manifest, preprocess={"skullstrip": "none"})
    assert not (tmp_path / "results").exists()


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {helpers!r})
    import brainuad.training as training
    from brainuad.experiment.config import study_config_from_dict
    from brainuad.experiment.runner import run_study

    real_train = training.train

    def killing_train(cache, kind, out, config, **kw):
        def on_step(step):
            if kind == "vae-ap" and step == {kill_step}:
                os.kill(os.getpid(), signal.SIGKILL)
        return real_train(cache, kind, out, config, on_step=on_step, **kw)

    training.train = killing_train
    run_study(study_config_from_dict({raw!r}), progress=False)
    """
)


def test_killed_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    manifest = write_tiny_cohort(tmp_path / "cohort")
    cfg = _config(tmp_path, manifest, epochs=3)
    script = KILLER.format(helpers=str(Path(__file__).parent), kill_step=5, raw=cfg.to_dict())
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    state = json.loads((cfg.output / "run_state.json").read_text())["stages"]
    assert state["train:vae"]["done"] and not state["train:vae-ap"]["done"]
    assert (cfg.output / "runs" / "vae-ap" / "checkpoints" / "last.safetensors").is_file()

    logs: list[str] = []
    result = run_study(cfg, progress=False, log=logs.append)
    assert "train:vae-ap" in result.stages_run
    assert not any(s in result.stages_run for s in ("preprocess", "train:vae", "train:vae-ac"))
    assert any("[train:vae-ap] resuming" in line for line in logs)
    log = pd.read_csv(cfg.output / "runs" / "vae-ap" / "log.csv")
    assert list(log["epoch"]) == [1, 2, 3]
    assert (cfg.output / "metrics.json").is_file()
