"""Settings of the preprocessing pipeline: :class:`PreprocessConfig` and its file loader.

Every field that changes the output is part of :meth:`PreprocessConfig.settings`, whose hash is
the cache *fingerprint* that training checks. Invalid values raise
:class:`~brainuad.errors.ConfigError` with a one-line message; :func:`load_config` adds the name
of the offending file.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainuad.errors import ConfigError
from brainuad.io.manifest import Cohort

SKULL_STRIP_METHODS = ("auto", "deepbet", "mask", "none")
INTERPOLATIONS = ("linear", "bspline")
ON_REGISTRATION_FAILURE = ("flag", "fail")

# the paper's grid (section 2.1): 160x192x166 voxels of 1 mm, downsampled 2.5x to 64x77x66
PAPER_CROP_SHAPE = (160, 192, 166)
PAPER_TARGET_SHAPE = (64, 77, 66)


@dataclass(frozen=True)
class PreprocessConfig:
    """How a raw T1 scan becomes a model-ready volume (see ``docs`` of :mod:`.subject`).

    ``skull_strip``: ``auto`` (default) checks each scan (:mod:`.stripcheck`): an already
    skull-stripped one (background exactly 0, e.g. BraTS) gets its mask from the image like
    ``none``, a head with skull goes through ``deepbet``; ``deepbet``, ``mask`` (the manifest's
    ``mask`` column) and ``none`` force one path for every scan.

    Geometry: the scan is skull-stripped, affinely registered to the MNI152 2009a brain
    (``register``), resampled once onto a ``crop_shape`` grid of ``voxel_size`` mm centred on the
    template brain, then downsampled by ``downsample`` to ``target_shape``.
    """

    skull_strip: str = "auto"
    register: bool = True
    n4: bool = True
    denoise: bool = True
    crop_shape: tuple[int, int, int] = PAPER_CROP_SHAPE
    target_shape: tuple[int, int, int] = PAPER_TARGET_SHAPE
    downsample: float = 2.5
    voxel_size: float = 1.0
    interpolation: str = "linear"
    percentiles: tuple[float, float] = (1.0, 99.0)
    # skull stripping
    deepbet_threshold: float = 0.5
    deepbet_shape: int = 192
    none_threshold: float = 0.02
    # registration (SimpleITK affine, Mattes mutual information, multi-resolution)
    register_resolution: float = 3.0
    register_iterations: int = 60
    register_min_similarity: float = 0.6
    on_registration_failure: str = "flag"
    # bias field (N4) and denoising (curvature flow)
    n4_shrink: int = 8
    n4_iterations: tuple[int, ...] = (20, 20, 10)
    denoise_iterations: int = 3
    denoise_time_step: float = 0.0625
    iso_tolerance: float = 0.02

    def __post_init__(self) -> None:
        _coerce_tuples(self)
        self._validate()

    def _validate(self) -> None:
        _choice("skull_strip", self.skull_strip, SKULL_STRIP_METHODS)
        _choice("interpolation", self.interpolation, INTERPOLATIONS)
        _choice("on_registration_failure", self.on_registration_failure, ON_REGISTRATION_FAILURE)
        for name in ("register", "n4", "denoise"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, found {getattr(self, name)!r}")
        for name in ("crop_shape", "target_shape"):
            shape = getattr(self, name)
            if len(shape) != 3 or not all(_is_int(s) and s >= 4 for s in shape):
                raise ConfigError(f"{name} must be 3 integers >= 4, found {list(shape)}")
        _positive("downsample", self.downsample, minimum=1.0)
        _positive("voxel_size", self.voxel_size)
        expected = tuple(int(math.floor(c / self.downsample + 0.5)) for c in self.crop_shape)
        if tuple(self.target_shape) != expected:
            raise ConfigError(
                f"target_shape must be crop_shape / downsample rounded = {list(expected)}, "
                f"found {list(self.target_shape)}"
            )
        lo, hi = self.percentiles if len(self.percentiles) == 2 else (None, None)
        if lo is None or not (0.0 <= float(lo) < float(hi) <= 100.0):
            raise ConfigError(
                f"percentiles must be two numbers 0 <= low < high <= 100, found "
                f"{list(self.percentiles)}"
            )
        if not 0.0 < self.deepbet_threshold < 1.0:
            raise ConfigError(
                f"deepbet_threshold must be in (0, 1), found {self.deepbet_threshold}"
            )
        if not _is_int(self.deepbet_shape) or self.deepbet_shape % 32 or self.deepbet_shape < 64:
            raise ConfigError(
                f"deepbet_shape must be a multiple of 32 >= 64, found {self.deepbet_shape!r}"
            )
        if not 0.0 <= self.none_threshold < 1.0:
            raise ConfigError(f"none_threshold must be in [0, 1), found {self.none_threshold}")
        _positive("register_resolution", self.register_resolution)
        _int_at_least("register_iterations", self.register_iterations, 1)
        if not -1.0 <= self.register_min_similarity <= 1.0:
            raise ConfigError(
                f"register_min_similarity must be in [-1, 1], found {self.register_min_similarity}"
            )
        _int_at_least("n4_shrink", self.n4_shrink, 1)
        if not self.n4_iterations or not all(_is_int(i) and i >= 1 for i in self.n4_iterations):
            raise ConfigError(
                f"n4_iterations must be a list of integers >= 1 (one per level), found "
                f"{list(self.n4_iterations)}"
            )
        _int_at_least("denoise_iterations", self.denoise_iterations, 1)
        _positive("denoise_time_step", self.denoise_time_step)
        if not 0.0 <= self.iso_tolerance < 0.5:
            raise ConfigError(f"iso_tolerance must be in [0, 0.5), found {self.iso_tolerance}")

    def settings(self) -> dict[str, Any]:
        """All fields as JSON-ready values (recorded in the cache; its fingerprint hashes them)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes: Any) -> PreprocessConfig:
        """A copy with some fields changed (validated like the original)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PreprocessConfig:
        """Build from a mapping (e.g. parsed YAML); unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in values if k not in known)
        if unknown:
            raise ConfigError(
                f"unknown preprocessing setting(s) {', '.join(unknown)}; valid keys: "
                f"{', '.join(sorted(known))}"
            )
        try:
            return cls(**dict(values))
        except TypeError as exc:  # e.g. a list where a number was expected
            raise ConfigError(f"invalid preprocessing setting ({exc})") from exc


def load_config(path: str | Path | None, **overrides: Any) -> PreprocessConfig:
    """Read a YAML or JSON file of settings (``None``: defaults) and apply ``overrides``.

    Accepts either the settings at the top level or under a ``preprocess:`` key. Problems raise
    :class:`ConfigError` naming the file.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        values = _read_mapping(path)
        if set(values) == {"preprocess"} and isinstance(values["preprocess"], Mapping):
            values = dict(values["preprocess"])
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return PreprocessConfig.from_mapping(values)
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(f"{path}: {exc}") from exc


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (expected a YAML or JSON file)")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML/JSON ({first})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    return data


def _coerce_tuples(cfg: PreprocessConfig) -> None:
    for name in ("crop_shape", "target_shape", "percentiles", "n4_iterations"):
        value = getattr(cfg, name)
        if isinstance(value, (list, tuple)):
            object.__setattr__(cfg, name, tuple(value))
        else:
            raise ConfigError(f"{name} must be a list, found {value!r}")
    if all(_is_number(v) for v in cfg.percentiles):
        object.__setattr__(cfg, "percentiles", tuple(float(v) for v in cfg.percentiles))
    for name in ("downsample", "voxel_size", "register_resolution", "denoise_time_step"):
        value = getattr(cfg, name)
        if _is_number(value):
            object.__setattr__(cfg, name, float(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}, found {value!r}")


def _positive(name: str, value: Any, minimum: float | None = None) -> None:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, found {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum:g}, found {value!r}")


def _int_at_least(name: str, value: Any, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, found {value!r}")


def check_cohort_fits(config: PreprocessConfig, cohort: Cohort) -> None:
    """Refuse, before any scan is read, settings the cohort cannot satisfy: ``skull_strip:
    mask`` needs a brain mask for every scan (the manifest's ``mask`` column)."""
    if config.skull_strip != "mask":
        return
    without = [s.subject_id for s in cohort if s.mask is None]
    if without:
        raise ConfigError(
            f"{cohort.source}: skull_strip 'mask' needs a brain mask for every scan (manifest "
            f"column 'mask'), missing for {len(without)} of {len(cohort)} (first: {without[0]}); "
            "add the column or choose skull_strip auto, deepbet or none"
        )
