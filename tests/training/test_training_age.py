"""The age head: training statistics stored with the model, learning the age, age in the log."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from training_synth import make_cache

from brainuad.scoring import score_run
from brainuad.training import load_checkpoint, preset, train
from uad_testing import AGE_ATOL_YEARS

CFG = preset("tiny").replace(epochs=2, batch_size=4)


def test_age_statistics_of_the_training_subjects_round_trip(tiny_cache, tmp_path) -> None:
    train(tiny_cache.root, "vae-ap", tmp_path / "run", CFG, progress=False)
    ages = tiny_cache.subjects["age"].to_numpy()[tiny_cache.indices(split="train")]
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["model"]["age_mean"] == pytest.approx(ages.mean(), abs=AGE_ATOL_YEARS)
    assert record["model"]["age_sd"] == pytest.approx(ages.std(ddof=1), abs=AGE_ATOL_YEARS)
    for which in ("last", "best"):
        model, state = load_checkpoint(tmp_path / "run", which)
        assert model.config.age_mean == record["model"]["age_mean"]
        assert model.config.age_sd == record["model"]["age_sd"]
        assert state["model"] == record["model"]


def test_validation_age_mae_and_its_reference_are_logged(tiny_cache, tmp_path) -> None:
    res = train(tiny_cache.root, "vae-ap", tmp_path / "run", CFG, progress=False)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    val = tiny_cache.indices(split="val")
    ages = tiny_cache.subjects["age"].to_numpy()
    mean_pred = np.abs(ages[val] - res.model.config.age_mean).mean()
    for row, hist in zip(rows, res.history, strict=True):
        assert float(row["val_age"]) == pytest.approx(hist["val_age"], abs=AGE_ATOL_YEARS)
        assert float(row["val_age_mean_pred"]) == pytest.approx(mean_pred, abs=AGE_ATOL_YEARS)
    plain = train(tiny_cache.root, "vae", tmp_path / "vae", CFG, progress=False)
    assert all(h["val_age"] is None and "val_age_mean_pred" not in h for h in plain.history)


def test_untrained_head_predicts_the_training_mean(tiny_cache, tmp_path) -> None:
    cfg = CFG.replace(epochs=1, lr=1e-12)  # weights barely move: the head stays at zero
    train(tiny_cache.root, "vae-ap", tmp_path / "run", cfg, progress=False)
    scores = score_run(tmp_path / "run", tiny_cache, split="all", progress=False, device="cpu")
    mean = json.loads((tmp_path / "run" / "config.json").read_text())["model"]["age_mean"]
    np.testing.assert_allclose(scores["age_pred"], mean, rtol=0, atol=AGE_ATOL_YEARS)


def test_vae_ap_learns_a_strong_age_signal_in_a_few_hundred_steps(tmp_path) -> None:
    """Ventricles that grow with age: the head beats predicting the mean by a wide margin."""
    cache = make_cache(tmp_path / "cache", n_train=48, n_val=16, n_test=0, seed=3)
    cfg = preset("tiny").replace(epochs=25, batch_size=4, seed=0)  # 300 optimiser steps
    res = train(cache.root, "vae-ap", tmp_path / "run", cfg, progress=False, device="cpu")
    assert res.global_step == 300
    last = res.history[-1]
    # the validation MAE of the last epoch against the MAE of always predicting the mean age
    assert last["val_age"] < 0.5 * last["val_age_mean_pred"]


def test_head_weight_decay_and_learning_rate_only_touch_the_head(tiny_cache, tmp_path) -> None:
    cfg = CFG.replace(epochs=1, age_weight_decay=0.1, age_lr_scale=0.1)
    train(tiny_cache.root, "vae-ap", tmp_path / "run", cfg, progress=False)
    from brainuad.training.checkpoint import checkpoint_path, read_checkpoint

    _, state = read_checkpoint(checkpoint_path(tmp_path / "run", "last"))
    groups = state["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [0, 0.1]
    assert [g["lr"] for g in groups] == pytest.approx([CFG.lr, 0.1 * CFG.lr])
    model, _ = load_checkpoint(tmp_path / "run", "last")
    head = {id(p) for p in model.age_head.parameters()}
    assert len(groups[1]["params"]) == len(head)
    with torch.no_grad():
        assert model.age_head_output.weight.abs().sum() > 0  # the head did learn


def test_cosine_schedule_ends_near_zero(tiny_cache, tmp_path) -> None:
    cfg = CFG.replace(epochs=2, lr_schedule="cosine")
    train(tiny_cache.root, "vae", tmp_path / "run", cfg, progress=False)
    from brainuad.training.checkpoint import checkpoint_path, read_checkpoint

    _, state = read_checkpoint(checkpoint_path(tmp_path / "run", "last"))
    lr = state["optimizer"]["param_groups"][0]["lr"]
    steps = state["position"]["global_step"]
    assert 0 < lr < CFG.lr * (1 - np.cos(np.pi / steps)) + 1e-12


def test_scoring_uses_the_last_checkpoint_unless_best_is_asked(tiny_cache, tmp_path) -> None:
    res = train(tiny_cache.root, "vae-ap", tmp_path / "run", CFG.replace(epochs=3), progress=False)
    from brainuad.scoring import score_cache

    default = score_run(tmp_path / "run", tiny_cache, split="all", progress=False, device="cpu")
    for which in ("last", "best"):
        model, state = load_checkpoint(tmp_path / "run", which)
        want = 3 if which == "last" else res.best_epoch
        assert state["epoch"] == want
        ref = score_cache(model, tiny_cache, method="m", progress=False, device="cpu")
        got = score_run(
            tmp_path / "run", tiny_cache, split="all", which=which, progress=False, device="cpu"
        )
        np.testing.assert_allclose(got["age_pred"], ref["age_pred"], rtol=0, atol=AGE_ATOL_YEARS)
        if which == "last":
            np.testing.assert_allclose(default["kl"], got["kl"], rtol=1e-6)
