"""Configuration of the synthetic cohort generator (frozen dataclasses, validated on creation).

Defaults follow the cohorts of Bengs, Behrendt et al. (SPIE MI 2022): healthy subjects aged
45.44 +/- 16.85 years and BraTS 2019 glioma patients aged 60.31 +/- 12.85 years.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from brainuad.errors import ConfigError

MIN_VOXEL_MM = 1.0
MAX_VOXEL_MM = 4.0


@dataclass(frozen=True)
class AgeDistribution:
    """A normal distribution of ages (years) truncated to ``[low, high]``."""

    mean: float
    sd: float
    low: float
    high: float

    def __post_init__(self) -> None:
        vals = (self.mean, self.sd, self.low, self.high)
        if not all(math.isfinite(v) for v in vals):
            raise ConfigError(f"age distribution values must be finite numbers, found {vals}")
        if self.sd <= 0:
            raise ConfigError(f"age sd must be > 0 years, found {self.sd:g}")
        if not 0 <= self.low < self.high <= 120:
            raise ConfigError(
                f"age range must satisfy 0 <= low < high <= 120, found {self.low:g}-{self.high:g}"
            )

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one age (rounded to 0.1 year) by rejection sampling."""
        for _ in range(10_000):
            age = rng.normal(self.mean, self.sd)
            if self.low <= age <= self.high:
                return round(float(age), 1)
        return round(float(np.clip(self.mean, self.low, self.high)), 1)


@dataclass(frozen=True)
class SynthConfig:
    """How subjects are generated.

    ``voxel_size``: output spacing in mm (1 = the MNI152 1 mm grid; 2-3 give tiny fast cohorts).
    ``skull``: keep a synthetic head (scalp, skull, neck, eyes, air noise) like a raw scan;
    ``False`` writes skull-stripped images with a zero background, as in BraTS.
    ``orientation_jitter``: store volumes with varied axis orders (RAS, LAS, LPS, PIR, ASL), a
    small oblique rotation (up to 6 degrees) and a shifted origin in the affine, as scanners do.
    ``tumour_volume_ml``: range of whole-tumour (incl. oedema) volumes, sampled log-uniformly.
    ``write_brain_masks``: also write the ground-truth brain masks and list them in the
    manifest's ``mask`` column (off by default so that skull stripping is exercised).
    """

    voxel_size: float = 1.0
    skull: bool = True
    orientation_jitter: bool = True
    normal_age: AgeDistribution = field(
        default_factory=lambda: AgeDistribution(45.0, 17.0, 18.0, 90.0)
    )
    anomalous_age: AgeDistribution = field(
        default_factory=lambda: AgeDistribution(60.0, 13.0, 18.0, 90.0)
    )
    tumour_volume_ml: tuple[float, float] = (10.0, 120.0)
    ageing: bool = True
    write_brain_masks: bool = False

    def __post_init__(self) -> None:
        vs = self.voxel_size
        if not (isinstance(vs, (int, float)) and math.isfinite(vs)):
            raise ConfigError(f"voxel_size must be a number of mm, found {vs!r}")
        if not MIN_VOXEL_MM <= vs <= MAX_VOXEL_MM:
            raise ConfigError(
                f"voxel_size must be between {MIN_VOXEL_MM:g} and {MAX_VOXEL_MM:g} mm, found {vs:g}"
            )
        lo, hi = self.tumour_volume_ml
        if not (math.isfinite(lo) and math.isfinite(hi) and 1.0 <= lo <= hi <= 300.0):
            raise ConfigError(
                f"tumour_volume_ml must satisfy 1 <= low <= high <= 300 mL, found {lo:g}-{hi:g}"
            )
        for name in ("normal_age", "anomalous_age"):
            if not isinstance(getattr(self, name), AgeDistribution):
                raise ConfigError(
                    f"{name} must be an AgeDistribution, found {getattr(self, name)!r}"
                )


def parse_age_spec(text: str, option: str) -> AgeDistribution:
    """Parse ``"mean,sd,low,high"`` (years) given on the command line as ``option``."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise ConfigError(
            f"{option} expects mean,sd,low,high in years (e.g. 45,17,18,90), found {text!r}"
        )
    return AgeDistribution(*values)


def parse_range(text: str, option: str) -> tuple[float, float]:
    """Parse ``"low,high"`` given on the command line as ``option``."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 2:
        raise ConfigError(f"{option} expects low,high (e.g. 10,120), found {text!r}")
    return values  # type: ignore[return-value]
