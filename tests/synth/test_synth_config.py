"""Configuration, age sampling, cohort planning and the closed forms of the ageing rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from brainuad.errors import ConfigError
from brainuad.synth import ageing, generate_subject
from brainuad.synth.cohort import plan_cohort
from brainuad.synth.config import AgeDistribution, SynthConfig, parse_age_spec, parse_range


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"voxel_size": 0.5}, "voxel_size must be between 1 and 4 mm, found 0.5"),
        ({"voxel_size": 5.0}, "voxel_size must be between"),
        ({"voxel_size": float("nan")}, "voxel_size must be a number"),
        ({"tumour_volume_ml": (50.0, 20.0)}, "tumour_volume_ml must satisfy"),
        ({"tumour_volume_ml": (0.0, 20.0)}, "tumour_volume_ml must satisfy"),
        ({"normal_age": (45, 17, 18, 90)}, "normal_age must be an AgeDistribution"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SynthConfig(**kwargs)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((45.0, 0.0, 18.0, 90.0), "age sd must be > 0"),
        ((45.0, 10.0, 90.0, 18.0), "age range must satisfy"),
        ((45.0, 10.0, -1.0, 90.0), "age range must satisfy"),
        ((45.0, float("inf"), 18.0, 90.0), "must be finite"),
    ],
)
def test_age_distribution_rejects_bad_values(args: tuple, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AgeDistribution(*args)


def test_parsers_report_the_option() -> None:
    assert parse_age_spec("60, 13, 20, 85", "--x") == AgeDistribution(60, 13, 20, 85)
    assert parse_range("5,50", "--y") == (5.0, 50.0)
    with pytest.raises(ConfigError, match="--normal-age expects mean,sd,low,high"):
        parse_age_spec("45,17", "--normal-age")
    with pytest.raises(ConfigError, match="--normal-age expects"):
        parse_age_spec("a,b,c,d", "--normal-age")
    with pytest.raises(ConfigError, match="--tumour-volume expects low,high"):
        parse_range("10", "--tumour-volume")


def test_default_ages_follow_the_paper_cohorts() -> None:
    cfg = SynthConfig()
    rng = np.random.default_rng(1)
    normal = np.array([cfg.normal_age.sample(rng) for _ in range(4000)])
    anomalous = np.array([cfg.anomalous_age.sample(rng) for _ in range(4000)])
    assert normal.min() >= 18 and normal.max() <= 90
    assert abs(normal.mean() - 45.4) < 1.5 and 14 < normal.std() < 17.5
    assert abs(anomalous.mean() - 60.3) < 1.5 and 11 < anomalous.std() < 13.5


def test_plan_is_deterministic_and_stable_when_growing() -> None:
    cfg = SynthConfig()
    small = plan_cohort(3, 1, 7, cfg)
    big = plan_cohort(5, 2, 7, cfg)
    assert [t.subject_id for t in small] == ["sub-0001", "sub-0002", "sub-0003", "sub-0004"]
    assert [t.label for t in big] == [0] * 5 + [1] * 2
    assert [t.age for t in small[:3]] == [t.age for t in big[:3]]
    assert small[3].age == big[5].age and small[3].spawn_key == big[5].spawn_key
    assert plan_cohort(3, 1, 8, cfg) != small
    assert len(plan_cohort(10_000, 0, 0, cfg)[0].subject_id) == len("sub-00001")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 0, 0), "the cohort is empty"),
        ((-1, 2, 0), "n_normal must be a whole number >= 0, found -1"),
        ((1, 2.5, 0), "n_anomalous must be a whole number"),
        ((1, 1, -3), "seed must be a whole number >= 0, found -3"),
        ((True, 1, 0), "n_normal must be a whole number"),
    ],
)
def test_plan_rejects_bad_counts(args: tuple, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan_cohort(*args, SynthConfig())


@pytest.mark.parametrize(
    ("age", "label", "match"),
    [
        (50.0, 2, "label must be 0 .normal. or 1 .anomalous., found 2"),
        (50.0, True, "label must be 0"),
        (float("nan"), 0, "age must be a number of years between 0 and 120, found nan"),
        (130.0, 1, "age must be a number of years between 0 and 120, found 130"),
        ("50", 0, "age must be a number"),
    ],
)
def test_generate_subject_rejects_bad_inputs(age: object, label: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        generate_subject(age, label, config=SynthConfig(voxel_size=3.0))  # type: ignore[arg-type]


def test_gm_loss_closed_form_matches_integrated_rate() -> None:
    r = ageing.AgeingRates()

    def rate(a: float) -> float:
        frac = min(max((a - 25.0) / (r.gm_rate_old_age - 25.0), 0.0), 1.0)
        return r.gm_rate_young + (r.gm_rate_old - r.gm_rate_young) * frac

    for age in (30.0, 50.0, 75.0, 90.0):
        numeric = integrate.quad(rate, 25.0, age, points=[75.0])[0]
        assert ageing.gm_loss_fraction(age) == pytest.approx(numeric, rel=1e-6)
    assert ageing.gm_loss_fraction(20.0) == 0.0


def test_ventricle_ratio_closed_form_matches_integrated_rate() -> None:
    r = ageing.AgeingRates()

    def rate(a: float) -> float:
        logistic = 1.0 / (1.0 + math.exp(-(a - r.vent_mid_age) / r.vent_width_years))
        return r.vent_rate_young + r.vent_rate_extra * logistic

    for age in (20.0, 45.0, 70.0, 90.0):
        numeric = math.exp(integrate.quad(rate, 25.0, age)[0])
        assert ageing.ventricle_ratio(age) == pytest.approx(numeric, rel=1e-6)
    # annual growth: under 1.5 %/yr before 40, 3-4.5 %/yr in the 80s
    assert ageing.ventricle_ratio(41) / ageing.ventricle_ratio(40) - 1 < 0.015
    assert 0.03 < ageing.ventricle_ratio(85) / ageing.ventricle_ratio(84) - 1 < 0.045


def test_age_effects_grow_with_age() -> None:
    ages = np.arange(20, 91, 5)
    for f in (ageing.gm_loss_fraction, ageing.ventricle_ratio, ageing.wmh_expected_count):
        values = [f(float(a)) for a in ages]
        assert np.all(np.diff(values) >= 0) and values[-1] > values[0]
    contrast = [ageing.contrast_factor(float(a)) for a in ages]
    assert np.all(np.diff(contrast) < 0)
