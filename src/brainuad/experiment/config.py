"""The study configuration read by ``brainuad run CONFIG.yaml``.

Example (every key but ``cohort`` and ``output`` is optional)::

    cohort: data/manifest.csv        # manifest (CSV/TSV) or BIDS folder; relative to this file,
                                     # or a list read as one cohort: [ixi.csv, brats.csv]
    output: results                  # results folder; relative to this file
    preset: cpu                      # training preset: paper | cpu | tiny
    methods: [vae, vae-ac, vae-ap]   # any registered (brainuad.methods); default: these three
    seed: 0
    epochs: null                     # override the preset's epoch count
    checkpoint: last                 # checkpoint scored and exported: last (paper) | best
    device: auto                     # auto | cpu | cuda
    jobs: null                       # preprocessing worker processes (default: all cores)
    preprocess: {skull_strip: auto}  # overrides of the preprocessing settings
    split: {healthy: [1255, 80, 400], anomalous: [40, 200]}
    evaluation: {n_resamples: 10000, confidence: 0.95}
    report: true

Unknown keys and wrong types are rejected with a :class:`~brainuad.errors.ConfigError` that
names the file and the key. Several manifests must not share a subject id
(:func:`read_study_cohort` names both files and an example id).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from brainuad.errors import ConfigError
from brainuad.io.manifest import Cohort, read_cohort
from brainuad.methods import default_methods, is_method, method_ids

PRESETS = ("paper", "cpu", "tiny")
CHECKPOINTS = ("last", "best")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class StudyConfig:
    """Everything that defines one study run (saved as ``config.yaml`` in the output folder).

    ``cohort`` is one manifest/BIDS folder, or a tuple of them read as one cohort.
    """

    cohort: Path | tuple[Path, ...]
    output: Path
    preset: str = "cpu"
    methods: tuple[str, ...] = field(default_factory=default_methods)
    seed: int = 0
    epochs: int | None = None
    checkpoint: str = "last"
    device: str = "auto"
    jobs: int | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)
    healthy_split: tuple[float, float, float] = (1255, 80, 400)
    anomalous_split: tuple[float, float] = (40, 200)
    n_resamples: int = 10_000
    confidence: float = 0.95
    report: bool = True
    train_overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A YAML-ready dict in the file format (paths as strings)."""
        d = asdict(self)
        return {
            "cohort": (
                [str(p) for p in self.cohort]
                if isinstance(self.cohort, tuple)
                else str(self.cohort)
            ),
            "output": str(self.output),
            "preset": self.preset,
            "methods": list(self.methods),
            "seed": self.seed,
            "epochs": self.epochs,
            "checkpoint": self.checkpoint,
            "device": self.device,
            "jobs": self.jobs,
            "preprocess": dict(d["preprocess"]),
            "split": {
                "healthy": list(self.healthy_split),
                "anomalous": list(self.anomalous_split),
            },
            "evaluation": {"n_resamples": self.n_resamples, "confidence": self.confidence},
            "report": self.report,
            "train": dict(d["train_overrides"]),
        }


_TOP_KEYS = {
    "cohort",
    "output",
    "preset",
    "methods",
    "seed",
    "epochs",
    "checkpoint",
    "device",
    "jobs",
    "preprocess",
    "split",
    "evaluation",
    "report",
    "train",
}


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML file; relative paths are taken from the file's folder."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise ConfigError(f"{path}: not valid YAML ({first})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found {type(raw).__name__}")
    return study_config_from_dict(raw, source=path)


def study_config_from_dict(raw: dict[str, Any], *, source: str | Path = "<config>") -> StudyConfig:
    """Validate a config mapping (as read from YAML) into a :class:`StudyConfig`."""
    src = Path(source)
    base = src.parent if src.suffix else Path.cwd()
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"{src}: unknown key(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(sorted(_TOP_KEYS))}"
        )
    for key in ("cohort", "output"):
        if not raw.get(key):
            raise ConfigError(f"{src}: missing required key {key!r}")

    def path_of(key: str) -> Path:
        p = Path(str(raw[key]))
        return p if p.is_absolute() else (base / p)

    def cohort_of() -> Path | tuple[Path, ...]:
        value = raw["cohort"]
        if not isinstance(value, list):
            return path_of("cohort")
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(
                f"{src}: cohort must be a path or a list of paths (manifests or BIDS folders), "
                f"found {value!r}"
            )
        paths = tuple(p if p.is_absolute() else base / p for p in (Path(v) for v in value))
        dupes = sorted({str(p) for p in paths if paths.count(p) > 1})
        if dupes:
            raise ConfigError(f"{src}: cohort lists {dupes[0]} more than once")
        return paths[0] if len(paths) == 1 else paths

    def typed(key: str, kind: type | tuple[type, ...], default: Any, where: dict = raw) -> Any:
        value = where.get(key)
        if value is None:
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            name = "/".join(k.__name__ for k in kinds)
            raise ConfigError(f"{src}: {key} must be {name}, found {value!r}")
        return value

    preset = typed("preset", str, "cpu")
    if preset not in PRESETS:
        raise ConfigError(f"{src}: preset must be one of {', '.join(PRESETS)}, found {preset!r}")
    methods = raw.get("methods", list(default_methods()))
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, list) or not methods or not all(map(is_method, methods)):
        raise ConfigError(
            f"{src}: methods must be a list from {', '.join(method_ids())}, found {methods!r}"
        )
    device = typed("device", str, "auto")
    if device not in DEVICES:
        raise ConfigError(f"{src}: device must be one of {', '.join(DEVICES)}, found {device!r}")
    checkpoint = typed("checkpoint", str, "last")
    if checkpoint not in CHECKPOINTS:
        raise ConfigError(
            f"{src}: checkpoint must be one of {', '.join(CHECKPOINTS)}, found {checkpoint!r}"
        )
    epochs = typed("epochs", int, None)
    if epochs is not None and epochs < 1:
        raise ConfigError(f"{src}: epochs must be >= 1, found {epochs}")
    jobs = typed("jobs", int, None)
    split = typed("split", dict, {})
    healthy = split.get("healthy", [1255, 80, 400])
    anomalous = split.get("anomalous", [40, 200])
    for name, value, n in (("split.healthy", healthy, 3), ("split.anomalous", anomalous, 2)):
        if (
            not isinstance(value, list)
            or len(value) != n
            or any(not isinstance(v, (int, float)) or v < 0 for v in value)
        ):
            raise ConfigError(
                f"{src}: {name} must be a list of {n} non-negative numbers, found {value!r}"
            )
    evaluation = typed("evaluation", dict, {})
    bad_eval = sorted(set(evaluation) - {"n_resamples", "confidence"})
    if bad_eval:
        raise ConfigError(f"{src}: unknown evaluation key(s) {', '.join(bad_eval)}")
    n_res = typed("n_resamples", int, 10_000, evaluation)
    conf = typed("confidence", (int, float), 0.95, evaluation)
    if n_res < 100 or not 0.5 < float(conf) < 1.0:
        raise ConfigError(
            f"{src}: evaluation needs n_resamples >= 100 and 0.5 < confidence < 1, "
            f"found {n_res} and {conf}"
        )
    train_overrides = dict(typed("train", dict, {}))
    _check_train(src, preset, train_overrides)
    prep = dict(typed("preprocess", dict, {}))
    _check_preprocess(src, prep)
    return StudyConfig(
        cohort=cohort_of(),
        output=path_of("output"),
        preset=preset,
        methods=tuple(methods),
        seed=typed("seed", int, 0),
        epochs=epochs,
        checkpoint=checkpoint,
        device=device,
        jobs=jobs,
        preprocess=prep,
        healthy_split=tuple(float(v) for v in healthy),  # type: ignore[arg-type]
        anomalous_split=tuple(float(v) for v in anomalous),  # type: ignore[arg-type]
        n_resamples=n_res,
        confidence=float(conf),
        report=typed("report", bool, True),
        train_overrides=train_overrides,
    )


def _check_train(src: Path, preset_name: str, overrides: dict[str, Any]) -> None:
    """The ``train:`` overrides on top of the preset must make a valid training config."""
    from brainuad.training.config import TrainConfig, preset

    try:
        TrainConfig.from_dict({**preset(preset_name).to_dict(), **overrides})
    except ConfigError as exc:
        raise ConfigError(f"{src}: train: {exc}") from exc


def _check_preprocess(src: Path, overrides: dict[str, Any]) -> None:
    from brainuad.preprocessing.config import PreprocessConfig

    try:
        PreprocessConfig.from_mapping(overrides)
    except ConfigError as exc:
        raise ConfigError(f"{src}: preprocess: {exc}") from exc


def dump_study_config(config: StudyConfig) -> str:
    """The YAML text of a config (as saved beside the results)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def cohort_paths(config: StudyConfig) -> tuple[Path, ...]:
    """The manifest(s)/BIDS folder(s) of a study, as a tuple."""
    return config.cohort if isinstance(config.cohort, tuple) else (config.cohort,)


def read_study_cohort(config: StudyConfig) -> Cohort:
    """Read the study's cohort; several manifests are concatenated into one cohort, in order.

    Raises :class:`ConfigError` when two manifests share a subject id (the message names both
    files, an example id and how many collide); each manifest is validated by
    :func:`~brainuad.io.manifest.read_cohort`.
    """
    paths = cohort_paths(config)
    cohorts = [read_cohort(p) for p in paths]
    if len(cohorts) == 1:
        return cohorts[0]
    owner: dict[str, Path] = {}
    for path, cohort in zip(paths, cohorts, strict=True):
        clashes = [sid for sid in cohort.ids if sid in owner]
        if clashes:
            first = owner[clashes[0]]
            raise ConfigError(
                f"subject ids collide between {first} and {path}: {len(clashes)} shared, e.g. "
                f"{clashes[0]!r} (each subject must appear in one manifest only; rename or drop "
                "the duplicates)"
            )
        owner.update(dict.fromkeys(cohort.ids, path))
    subjects = tuple(s for c in cohorts for s in c)
    return Cohort(subjects, paths[0])
