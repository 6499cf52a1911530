from __future__ import annotations

from pathlib import Path

import pytest

from brainuad.errors import ConfigError
from brainuad.experiment.config import (
    dump_study_config,
    load_study_config,
    study_config_from_dict,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_minimal_config_defaults_and_relative_paths(tmp_path: Path) -> None:
    cfg = load_study_config(_write(tmp_path, "cohort: data/m.csv\noutput: res\n"))
    assert cfg.cohort == tmp_path / "data" / "m.csv"
    assert cfg.output == tmp_path / "res"
    assert cfg.methods == ("vae", "vae-ac", "vae-ap")
    assert cfg.preset == "cpu" and cfg.n_resamples == 10_000
    assert cfg.checkpoint == "last"  # the paper trains a fixed number of epochs


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    text = (
        "cohort: /abs/m.csv\noutput: /abs/out\npreset: tiny\nmethods: [vae-ap]\nseed: 3\n"
        "epochs: 2\ncheckpoint: best\nsplit: {healthy: [0.6, 0.2, 0.2], anomalous: [1, 1]}\n"
        "evaluation: {n_resamples: 500, confidence: 0.9}\npreprocess: {skull_strip: none}\n"
    )
    cfg = load_study_config(_write(tmp_path, text))
    again = load_study_config(_write(tmp_path, dump_study_config(cfg)))
    assert again == cfg
    assert cfg.healthy_split == (0.6, 0.2, 0.2) and cfg.preprocess == {"skull_strip": "none"}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("output: o\n", "missing required key 'cohort'"),
        ("cohort: c\noutput: o\nlearning_rate: 1\n", "unknown key.*learning_rate"),
        ("cohort: c\noutput: o\npreset: huge\n", "preset must be one of"),
        ("cohort: c\noutput: o\nmethods: [vae, gan]\n", "methods must be a list"),
        ("cohort: c\noutput: o\nseed: abc\n", "seed must be int, found 'abc'"),
        ("cohort: c\noutput: o\nepochs: 0\n", "epochs must be >= 1"),
        ("cohort: c\noutput: o\ncheckpoint: worst\n", "checkpoint must be one of last, best"),
        ("cohort: c\noutput: o\nsplit: {healthy: [1, 2]}\n", "split.healthy must be a list of 3"),
        ("cohort: c\noutput: o\nevaluation: {n_resamples: 5}\n", "n_resamples >= 100"),
        ("cohort: [c\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_invalid_configs_name_the_file(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_study_config(path)
    assert str(path) in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_study_config("/nonexistent/study.yaml")


def test_from_dict_accepts_single_method_string() -> None:
    cfg = study_config_from_dict({"cohort": "/c", "output": "/o", "methods": "vae"})
    assert cfg.methods == ("vae",)
