"""Exporting a trained study as a bundle and loading it back: the round trip is exact."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from brainuad.bundle import export_bundle, export_run, load_bundle
from brainuad.cli.main import main
from brainuad.errors import CheckpointError, ConfigError, InputFileError
from brainuad.io.cache import open_cache
from brainuad.scoring import score_batch
from brainuad.splits import read_splits
from brainuad.training import read_checkpoint
from uad_testing import AGE_ATOL_YEARS, SUM_RTOL


def test_bundle_runner_exports_plain_files(study: Path, bundle_dir: Path) -> None:
    assert sorted(p.name for p in bundle_dir.iterdir()) == [
        "bundle.json",
        "reference.csv",
        "weights.safetensors",
    ]
    record = json.loads((bundle_dir / "bundle.json").read_text())
    assert record["format"] == "brainuad-bundle" and record["format_version"] == 2
    assert record["method"] == "vae-ap" and record["model"]["kind"] == "vae-ap"
    assert record["versions"]["brainuad"] and record["versions"]["torch"]
    metrics = json.loads((study / "metrics.json").read_text())
    chosen = metrics["methods"][0]["weights"]
    assert record["combined_weights"] == {k: chosen[k] for k in ("alpha", "beta", "gamma")}
    cache = open_cache(study / "cache").with_splits(read_splits(study / "splits.csv"))
    train_ages = cache.subjects.loc[cache.subjects["split"] == "train", "age"]
    assert record["training"]["age_range"] == {
        "min": train_ages.min(),
        "max": train_ages.max(),
    }
    assert record["preprocessing"]["fingerprint"] == cache.fingerprint
    # the age head's statistics are the healthy training ages' (years), stored with the model
    assert record["model"]["age_mean"] == pytest.approx(train_ages.mean(), abs=AGE_ATOL_YEARS)
    assert record["model"]["age_sd"] == pytest.approx(train_ages.std(), abs=AGE_ATOL_YEARS)
    assert record["brain_age"]["training_mean"] == record["model"]["age_mean"]
    assert record["brain_age"]["bias_correction"]["fitted_on"] == "healthy validation subjects"
    assert set(record["operating_points"]) == {"sens100", "spec95"}


def test_bundle_round_trip_gives_the_runs_scores(study: Path, bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir, device="cpu")
    # the study scores (and exports) the last checkpoint, as the paper's fixed-epoch training
    tensors, _ = read_checkpoint(study / "runs" / "vae-ap" / "checkpoints" / "last.safetensors")
    state = bundle.model.state_dict()
    model_tensors = {k: v for k, v in tensors.items() if k.startswith("model.")}
    assert len(model_tensors) == len(state)
    for key, value in model_tensors.items():
        assert torch.equal(state[key.removeprefix("model.")], value), key

    # score the cached val/test volumes exactly as `brainuad score` did (same batches of 8)
    cache = open_cache(study / "cache").with_splits(read_splits(study / "splits.csv"))
    idx = np.concatenate([cache.indices(split="val"), cache.indices(split="test")])
    ages = cache.subjects["age"].to_numpy(dtype=float)
    rec, kl, pred = [], [], []
    for start in range(0, len(idx), 8):
        chunk = idx[start : start + 8]
        b = score_batch(bundle.model, cache.volumes[chunk], cache.masks[chunk], None)
        rec += b.rec.tolist()
        kl += b.kl.tolist()
        pred += b.age_pred.tolist()  # type: ignore[union-attr]
    run = pd.read_csv(study / "scores" / "vae-ap.csv", dtype={"subject_id": str})
    assert run["subject_id"].tolist() == cache.subjects["subject_id"].iloc[idx].tolist()
    # the weights are bit-identical (above); the scores agree to the scale of each quantity
    np.testing.assert_allclose(run["rec"], rec, rtol=SUM_RTOL)
    np.testing.assert_allclose(run["kl"], kl, rtol=SUM_RTOL)
    np.testing.assert_allclose(run["age_pred"], pred, rtol=0, atol=AGE_ATOL_YEARS)
    np.testing.assert_allclose(
        run["age_abs_error"], np.abs(np.asarray(pred) - ages[idx]), rtol=0, atol=AGE_ATOL_YEARS
    )

    # the reference is the run's healthy validation subjects; thresholds come from their scores
    healthy = run[(run["split"] == "val") & (run["label"] == 0)]
    ref = bundle.reference.table
    assert ref["subject_id"].tolist() == healthy["subject_id"].tolist()
    np.testing.assert_array_equal(ref["kl"], healthy["kl"])
    w = bundle.weights
    val = run[run["split"] == "val"]
    combined = w.combine(val["rec"], val["kl"], val["age_abs_error"])
    np.testing.assert_array_equal(ref["combined"], combined[val["label"].to_numpy() == 0])
    points = {p.name: p for p in bundle.operating_points}
    assert points["sens100"].threshold == combined[val["label"].to_numpy() == 1].min()
    assert np.mean(combined[val["label"].to_numpy() == 0] >= points["spec95"].threshold) <= 0.05


def test_bundle_export_named_method_and_errors(study: Path, tmp_path: Path) -> None:
    out = export_bundle(study, "vae-ap", tmp_path / "m1")
    first = (out / "weights.safetensors").read_bytes()
    export_bundle(study, "vae-ap", out)  # an existing bundle is replaced
    assert (out / "weights.safetensors").read_bytes() == first
    with pytest.raises(ConfigError, match="'vae' was not evaluated; available: vae-ap"):
        export_bundle(study, "vae", tmp_path / "m2")
    assert not (tmp_path / "m2").exists()

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a model bundle"):
        export_bundle(study, "vae-ap", precious)
    assert [p.name for p in precious.iterdir()] == ["notes.txt"]

    with pytest.raises(InputFileError, match="metrics.json not found"):
        export_bundle(tmp_path, "vae-ap", tmp_path / "m3")
    assert not (tmp_path / "m3").exists()


def test_bundle_export_refuses_a_changed_cache(study: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("subjects", "model"))
    meta = json.loads((copy / "cache" / "cache.json").read_text())
    meta["fingerprint"] = "0" * 16
    (copy / "cache" / "cache.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cache changed after training"):
        export_bundle(copy, "vae-ap", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_bundle_export_from_a_training_run_matches_the_study(
    study: Path, bundle_dir: Path, tmp_path: Path
) -> None:
    """A bare run folder + its recorded cache give the bundle the study exported."""
    out = export_run(study / "runs" / "vae-ap", tmp_path / "m", device="cpu")
    ours = json.loads((out / "bundle.json").read_text())
    theirs = json.loads((bundle_dir / "bundle.json").read_text())
    for key in ("combined_weights", "operating_points", "weights", "reference", "training"):
        assert ours[key] == theirs[key], key
    assert main(["export", str(study / "runs" / "vae-ap"), "--out", str(tmp_path / "m2")]) == 0
    assert (tmp_path / "m2" / "bundle.json").is_file()
    code = main(
        ["export", str(study / "runs" / "vae-ap"), "--out", str(tmp_path / "m3"), "-m", "vae"]
    )
    assert code == 2 and not (tmp_path / "m3").exists()
