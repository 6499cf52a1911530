"""End-to-end training runs on a tiny synthetic cache."""

from __future__ import annotations

import csv
import json

import torch
from training_synth import make_cache

from brainuad.cli.main import main
from brainuad.training import LOG_COLUMNS, load_checkpoint, preset, train

CFG = preset("tiny").replace(epochs=2, batch_size=4)


def test_run_folder_layout_log_and_best(tiny_cache, tmp_path):
    res = train(tiny_cache.root, "vae-ap", tmp_path / "run", CFG, progress=False)
    run = tmp_path / "run"
    for name in (
        "config.json",
        "log.csv",
        "checkpoints/last.safetensors",
        "checkpoints/last.json",
        "checkpoints/best.safetensors",
        "checkpoints/best.json",
    ):
        assert (run / name).is_file(), name
    record = json.loads((run / "config.json").read_text())
    assert record["kind"] == "vae-ap"
    assert record["fingerprint"] == tiny_cache.fingerprint
    assert record["seed"] == CFG.seed and record["n_train"] == 8 and record["n_val"] == 2
    assert record["model"]["input_shape"] == list(tiny_cache.shape)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert tuple(rows[0]) == LOG_COLUMNS and len(rows) == 2
    assert all(float(r["train_age"]) > 0 and float(r["val_loss"]) > 0 for r in rows)
    vals = [h["val_loss"] for h in res.history]
    assert res.best_metric == "val_loss" and res.best_value == min(vals)
    assert res.best_epoch == 1 + vals.index(min(vals))
    best = json.loads((run / "checkpoints/best.json").read_text())
    assert best["epoch"] == res.best_epoch and "optimizer" not in best


def test_same_seed_same_weights_and_loaded_model_matches(tiny_cache, tmp_path):
    a = train(tiny_cache.root, "vae-ac", tmp_path / "a", CFG, progress=False)
    b = train(tiny_cache.root, "vae-ac", tmp_path / "b", CFG, progress=False)
    c = train(tiny_cache.root, "vae-ac", tmp_path / "c", CFG.replace(seed=1), progress=False)
    sa, sb, sc = (r.model.state_dict() for r in (a, b, c))
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert not torch.equal(sa["fc_mu.weight"], sc["fc_mu.weight"])
    model, state = load_checkpoint(tmp_path / "a", "last", expected_shape=tiny_cache.shape)
    assert state["kind"] == "vae-ac" and state["fingerprint"] == tiny_cache.fingerprint
    assert not model.training
    x = torch.from_numpy(tiny_cache.volumes[:2].copy()).unsqueeze(1)
    age = torch.tensor([40.0, 60.0])
    with torch.no_grad():
        torch.testing.assert_close(model(x, age).recon, a.model(x, age).recon)


def test_anomalous_training_subjects_are_ignored_and_splits_file_used(tmp_path):
    labels = [1, 1] + [0] * 10
    make_cache(tmp_path / "c", labels=labels)
    res = train(tmp_path / "c", "vae", tmp_path / "run", CFG, progress=False)
    record = json.loads((tmp_path / "run/config.json").read_text())
    assert record["n_train"] == 6 and record["n_anomalous_train_ignored"] == 2
    assert res.global_step == 2 * 2  # 6 healthy subjects, batch 4 -> 2 steps per epoch
    ids = [f"sub-{i:03d}" for i in range(12)]
    splits = tmp_path / "splits.csv"
    splits.write_text(
        "subject_id,split\n"
        + "".join(f"{sid},{'train' if i < 11 else 'test'}\n" for i, sid in enumerate(ids))
    )
    res = train(tmp_path / "c", "vae", tmp_path / "run2", CFG, splits=splits, progress=False)
    record = json.loads((tmp_path / "run2/config.json").read_text())
    assert record["n_train"] == 9 and record["n_val"] == 0
    assert res.best_metric == "train_loss"
    assert all(h["val_loss"] is None for h in res.history)


def test_cli_trains_and_resumes(tiny_cache, tmp_path, capsys):
    out = tmp_path / "run"
    head = ["train", str(tiny_cache.root), "--out", str(out)]
    assert (
        main([*head, *"-m vae-ap --preset tiny --epochs 1 --batch-size 4 --no-progress".split()])
        == 0
    )
    assert "vae-ap: 1 epochs" in capsys.readouterr().out
    assert main([*head, *"-m vae-ap --resume --epochs 2 --no-progress".split()]) == 0
    assert "vae-ap: 2 epochs, 4 steps" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 2


def test_batchnorm_recalibration_matches_current_weights(tiny_cache, tmp_path):
    cfg = CFG.replace(epochs=1, bn_recalibration=8)
    x = torch.from_numpy(tiny_cache.volumes[tiny_cache.indices(split="train")].copy())
    for n, should_match in ((8, True), (0, False)):
        res = train(tiny_cache.root, "vae", tmp_path / f"r{n}", cfg.replace(bn_recalibration=n))
        conv, norm = res.model.encoder[0][0], res.model.encoder[0][1][0]
        with torch.no_grad():
            h = conv(x.unsqueeze(1))
        batch_mean = h.mean(dim=(0, 2, 3, 4))
        matches = torch.allclose(norm.running_mean, batch_mean, atol=1e-4, rtol=1e-3)
        assert matches == should_match
