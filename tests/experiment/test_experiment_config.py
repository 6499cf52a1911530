from __future__ import annotations

from pathlib import Path

import pytest

from brainuad.errors import ConfigError
from brainuad.experiment.config import (
    cohort_paths,
    dump_study_config,
    load_study_config,
    read_study_cohort,
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


def _manifest(folder: Path, name: str, ids: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["subject_id,image,age,label"]
    for i, sid in enumerate(ids):
        (folder / f"{sid}.nii.gz").write_bytes(b"")  # only checked for existence
        lines.append(f"{sid},{sid}.nii.gz,{40 + i},0")
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_several_manifests_are_read_as_one_cohort(tmp_path: Path) -> None:
    _manifest(tmp_path / "ixi", "ixi.csv", ["IXI002", "IXI012"])
    _manifest(tmp_path / "brats", "brats.csv", ["BraTS20_Training_001"])
    text = "cohort: [ixi/ixi.csv, brats/brats.csv]\noutput: res\n"
    cfg = load_study_config(_write(tmp_path, text))
    assert cfg.cohort == (tmp_path / "ixi" / "ixi.csv", tmp_path / "brats" / "brats.csv")
    assert cohort_paths(cfg) == cfg.cohort
    assert load_study_config(_write(tmp_path, dump_study_config(cfg))) == cfg
    cohort = read_study_cohort(cfg)
    assert cohort.ids == ["IXI002", "IXI012", "BraTS20_Training_001"]
    assert cohort.by_id()["BraTS20_Training_001"].image == tmp_path / "brats" / (
        "BraTS20_Training_001.nii.gz"
    )
    single = load_study_config(_write(tmp_path, "cohort: [ixi/ixi.csv]\noutput: res\n"))
    assert single.cohort == tmp_path / "ixi" / "ixi.csv"


def test_colliding_subject_ids_name_both_files(tmp_path: Path) -> None:
    a = _manifest(tmp_path / "a", "a.csv", ["s1", "s2", "s3"])
    b = _manifest(tmp_path / "b", "b.csv", ["s9", "s2", "s3"])
    cfg = study_config_from_dict({"cohort": [str(a), str(b)], "output": str(tmp_path / "o")})
    with pytest.raises(ConfigError) as info:
        read_study_cohort(cfg)
    message = str(info.value)
    assert "\n" not in message
    assert f"subject ids collide between {a} and {b}: 2 shared, e.g. 's2'" in message


@pytest.mark.parametrize(
    ("cohort", "match"),
    [
        ("[a.csv, '']", "cohort must be a path or a list of paths"),
        ("[a.csv, 3]", "cohort must be a path or a list of paths"),
        ("[a.csv, a.csv]", "cohort lists .*a.csv more than once"),
    ],
)
def test_invalid_cohort_lists(tmp_path: Path, cohort: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_study_config(_write(tmp_path, f"cohort: {cohort}\noutput: o\n"))
