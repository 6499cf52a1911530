"""Clear errors for bad inputs: cache, fingerprint, shapes, subjects, ages, run folders."""

from __future__ import annotations

import pytest
from training_synth import make_cache

from brainuad.cli.main import main
from brainuad.errors import CacheError, CheckpointError, ConfigError, InputFileError
from brainuad.training import preset, train

CFG = preset("tiny").replace(epochs=1, batch_size=4)


def test_missing_cache(tmp_path):
    with pytest.raises(CacheError, match="not a brainuad cache"):
        train(tmp_path / "nothing", "vae", tmp_path / "run", CFG)


def test_resume_refuses_a_cache_with_another_fingerprint(tmp_path):
    make_cache(tmp_path / "a", settings={"zoom": 2.5})
    train(tmp_path / "a", "vae", tmp_path / "run", CFG, progress=False)
    make_cache(tmp_path / "b", settings={"zoom": 2.0})
    with pytest.raises(CacheError, match="preprocessing fingerprint .* differs"):
        train(tmp_path / "b", "vae", tmp_path / "run", None, resume=True)


def test_resume_refuses_a_cache_of_another_shape(tmp_path):
    make_cache(tmp_path / "a", shape=(24, 28, 26))
    train(tmp_path / "a", "vae", tmp_path / "run", CFG, progress=False)
    make_cache(tmp_path / "b", shape=(20, 28, 26))  # same settings, so same fingerprint
    with pytest.raises(CheckpointError, match=r"shape \(24, 28, 26\), the cache .* \(20, 28, 26\)"):
        train(tmp_path / "b", "vae", tmp_path / "run", None, resume=True)


def test_no_healthy_training_subjects(tmp_path):
    make_cache(tmp_path / "c", n_train=0, n_val=3)
    with pytest.raises(CacheError, match="no healthy training subjects"):
        train(tmp_path / "c", "vae", tmp_path / "run", CFG)


def test_no_training_subjects_in_splits_file(tmp_path):
    cache = make_cache(tmp_path / "c")
    splits = tmp_path / "splits.csv"
    rows = [f"{sid},test" for sid in cache.subjects["subject_id"]]
    splits.write_text("subject_id,split\n" + "\n".join(rows) + "\n")
    with pytest.raises(CacheError, match=r"no healthy training subjects .* splits file"):
        train(tmp_path / "c", "vae", tmp_path / "run", CFG, splits=splits)
    with pytest.raises(InputFileError, match="splits file not found"):
        train(tmp_path / "c", "vae", tmp_path / "run", CFG, splits=tmp_path / "none.csv")


@pytest.mark.parametrize("kind", ["vae-ac", "vae-ap"])
def test_age_missing_for_age_models(tmp_path, kind):
    make_cache(tmp_path / "c", ages=False)
    with pytest.raises(CacheError, match=r"needs the age of every train subject.*sub-000"):
        train(tmp_path / "c", kind, tmp_path / "run", CFG)
    # the baseline does not need ages
    res = train(tmp_path / "c", "vae", tmp_path / "run", CFG, progress=False)
    assert res.epochs_completed == 1


def test_run_folder_rules(tiny_cache, tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_cache.root, "vae", tmp_path / "run", None, resume=True)
    train(tiny_cache.root, "vae", tmp_path / "run", CFG, progress=False)
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(tiny_cache.root, "vae", tmp_path / "run", CFG)
    with pytest.raises(ConfigError, match="trains 'vae', not 'vae-ap'"):
        train(tiny_cache.root, "vae-ap", tmp_path / "run", None, resume=True)
    with pytest.raises(ConfigError, match="lr differ"):
        train(tiny_cache.root, "vae", tmp_path / "run", CFG.replace(lr=0.1), resume=True)
    with pytest.raises(ConfigError, match="model: expected one of"):
        train(tiny_cache.root, "gan", tmp_path / "other", CFG)
    with pytest.raises(ConfigError, match="device: expected one of"):
        train(tiny_cache.root, "vae", tmp_path / "other", CFG, device="tpu")


def test_config_errors():
    with pytest.raises(ConfigError, match="preset: expected one of"):
        preset("huge")
    with pytest.raises(ConfigError, match="epochs and batch_size must be >= 1"):
        CFG.replace(epochs=0)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        CFG.replace(lr=-1.0)
    with pytest.raises(ConfigError, match="kernel_size: expected an odd size"):
        CFG.replace(kernel_size=2)


def test_cli_reports_errors_on_one_line(tmp_path, capsys):
    code = main(["train", str(tmp_path / "missing"), "-m", "vae", "-o", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "not a brainuad cache" in err
    code = main(
        ["train", str(tmp_path), "-m", "vae", "-o", str(tmp_path / "r"), "--resume", "--lr", "0.1"]
    )
    assert code == 2
    assert "only --epochs may be given, found --lr" in capsys.readouterr().err
