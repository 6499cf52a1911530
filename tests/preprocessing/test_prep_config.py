"""PreprocessConfig validation and loading from YAML/JSON files."""

from __future__ import annotations

import json

import pytest

from brainuad.errors import CacheError, ConfigError
from brainuad.io.cache import settings_fingerprint
from brainuad.preprocessing import (
    PreprocessConfig,
    cache_settings,
    config_from_settings,
    load_config,
)


def test_defaults_follow_the_paper() -> None:
    cfg = PreprocessConfig()
    assert cfg.crop_shape == (160, 192, 166)
    assert cfg.target_shape == (64, 77, 66)
    assert cfg.downsample == 2.5
    assert cfg.skull_strip == "auto" and cfg.register and cfg.n4 and cfg.denoise


def test_settings_are_json_ready_and_fingerprint_tracks_changes() -> None:
    a = cache_settings(PreprocessConfig())
    b = cache_settings(PreprocessConfig(n4=False))
    assert json.loads(json.dumps(a)) == a
    assert settings_fingerprint(a) == settings_fingerprint(cache_settings(PreprocessConfig()))
    assert settings_fingerprint(a) != settings_fingerprint(b)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        (
            {"skull_strip": "bet"},
            r"skull_strip must be one of auto, deepbet, mask, none, found 'bet'",
        ),
        ({"target_shape": (64, 77, 67)}, r"target_shape must be crop_shape / downsample"),
        ({"crop_shape": (160, 192)}, r"crop_shape must be 3 integers"),
        ({"percentiles": (99.0, 1.0)}, r"percentiles must be two numbers 0 <= low < high"),
        ({"downsample": 0.5}, r"downsample must be >= 1"),
        ({"n4_iterations": ()}, r"n4_iterations must be a list of integers"),
        ({"register": "yes"}, r"register must be true or false"),
        ({"interpolation": "cubic"}, r"interpolation must be one of linear, bspline"),
        ({"deepbet_shape": 100}, r"deepbet_shape must be a multiple of 32"),
    ],
)
def test_invalid_values_raise_config_error(changes: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        PreprocessConfig(**changes)


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown preprocessing setting\(s\) n4_shrnk;"):
        PreprocessConfig.from_mapping({"n4_shrnk": 2})


def test_yaml_file_with_overrides(tmp_path) -> None:
    path = tmp_path / "prep.yaml"
    path.write_text(
        "preprocess:\n  skull_strip: none\n  crop_shape: [80, 96, 84]\n"
        "  target_shape: [32, 38, 34]\n  n4: false\n",
        encoding="utf-8",
    )
    cfg = load_config(path, denoise=False, register=None)
    assert cfg.skull_strip == "none" and cfg.crop_shape == (80, 96, 84)
    assert cfg.n4 is False and cfg.denoise is False and cfg.register is True


def test_json_file(tmp_path) -> None:
    path = tmp_path / "prep.json"
    path.write_text(json.dumps({"percentiles": [2, 98]}), encoding="utf-8")
    cfg = load_config(path)
    assert cfg.percentiles == (2.0, 98.0)
    assert cfg.settings() == PreprocessConfig(percentiles=(2.0, 98.0)).settings()


def test_file_errors_name_the_file(tmp_path) -> None:
    bad_key = tmp_path / "a.yaml"
    bad_key.write_text("skullstrip: none\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"a\.yaml: unknown preprocessing setting\(s\) skullstrip"
    ):
        load_config(bad_key)
    bad_value = tmp_path / "b.yaml"
    bad_value.write_text("n4_shrink: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"b\.yaml: n4_shrink must be an integer >= 1, found 0"):
        load_config(bad_value)
    not_yaml = tmp_path / "c.yaml"
    not_yaml.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML/JSON"):
        load_config(not_yaml)
    a_list = tmp_path / "d.yaml"
    a_list.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"d\.yaml: expected a mapping of settings, found list"):
        load_config(a_list)
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_config_from_cache_settings_round_trip() -> None:
    cfg = PreprocessConfig(skull_strip="mask", n4=False)
    assert config_from_settings(cache_settings(cfg)) == cfg
    old = {**cache_settings(cfg), "pipeline_version": 0}
    with pytest.raises(CacheError, match=r"c1: made by preprocessing pipeline version 0"):
        config_from_settings(old, source="c1")
    odd = {**cache_settings(cfg), "shrink": 3}
    with pytest.raises(CacheError, match=r"c2: preprocessing settings not understood"):
        config_from_settings(odd, source="c2")
