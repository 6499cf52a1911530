"""The run folder: planning a new or resumed run, ``config.json`` and ``log.csv``.

Layout::

    RUN_DIR/config.json                      model + training config, preprocessing
                                             fingerprint, seed, model kind, data summary
    RUN_DIR/checkpoints/{last,best}.safetensors   weights (+ optimiser for last), state header
    RUN_DIR/checkpoints/{last,best}.json          readable copy of the state
    RUN_DIR/log.csv                          one row per epoch (rewritten from the checkpoint
                                             history, so it never runs ahead of ``last``)
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brainuad import __version__
from brainuad.errors import CacheError, CheckpointError, ConfigError
from brainuad.io.atomic import write_json_atomic, write_text_atomic
from brainuad.io.cache import Cache, open_cache
from brainuad.methods import is_method, method_ids
from brainuad.models import ModelConfig
from brainuad.splits import read_splits
from brainuad.training.checkpoint import checkpoint_path, read_checkpoint
from brainuad.training.config import TrainConfig, differing_fields
from brainuad.training.data import cache_ages, select_subjects

RUN_FORMAT = "brainuad-run"
LOG_COLUMNS = (
    "epoch",
    "step",
    "train_loss",
    "train_rec",
    "train_kl",
    "train_age",
    "val_loss",
    "val_rec",
    "val_kl",
    "val_age",
    "val_age_mean_pred",
    "lr",
    "seconds",
    "volumes_per_s",
    "best",
)


@dataclass(frozen=True)
class RunPlan:
    """Everything resolved before training starts (no process group, no model yet)."""

    run_dir: Path
    kind: str
    config: TrainConfig
    model_config: ModelConfig
    cache: Cache
    train_idx: np.ndarray
    val_idx: np.ndarray
    n_anomalous_train_ignored: int
    splits: Path | None
    resume: bool
    last: tuple[dict[str, torch.Tensor], dict[str, Any]] | None

    @property
    def config_path(self) -> Path:
        return self.run_dir / "config.json"

    def run_record(self, world_size: int) -> dict[str, Any]:
        """The content of ``config.json``."""
        return {
            "format": RUN_FORMAT,
            "format_version": 1,
            "kind": self.kind,
            "model": self.model_config.to_dict(),
            "train": self.config.to_dict(),
            "fingerprint": self.cache.fingerprint,
            "seed": self.config.seed,
            "cache": str(Path(self.cache.root).resolve()),
            "splits": None if self.splits is None else str(Path(self.splits).resolve()),
            "n_train": len(self.train_idx),
            "n_val": len(self.val_idx),
            "n_anomalous_train_ignored": self.n_anomalous_train_ignored,
            "world_size": world_size,
            "versions": {"brainuad": __version__, "torch": torch.__version__},
        }


def _read_run_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable run record ({exc})") from exc
    if record.get("format") != RUN_FORMAT or "train" not in record or "kind" not in record:
        raise CheckpointError(f"{path}: expected a brainuad run record, found something else")
    return record


def plan_run(
    cache_dir: str | Path,
    kind: str,
    out_dir: str | Path,
    config: TrainConfig | None,
    *,
    splits: str | Path | None = None,
    resume: bool = False,
) -> RunPlan:
    """Check the request against the cache and the run folder; raise clear errors early."""
    if not is_method(kind):
        raise ConfigError(f"model: expected one of {method_ids()}, found {kind!r}")
    run_dir = Path(out_dir)
    record_path = run_dir / "config.json"
    record = None
    expected_fp = None
    if resume:
        if not record_path.is_file():
            raise CheckpointError(
                f"{run_dir}: nothing to resume (config.json not found); start without --resume"
            )
        record = _read_run_record(record_path)
        if record["kind"] != kind:
            raise ConfigError(
                f"{record_path}: the run trains {record['kind']!r}, not {kind!r}; "
                "resume with the same --model"
            )
        saved = TrainConfig.from_dict(record["train"])
        if config is not None:
            diff = differing_fields(config, saved, ignore=("epochs", "preset"))
            if diff:
                raise ConfigError(
                    f"{record_path}: a resumed run keeps its settings, but {', '.join(diff)} "
                    "differ from the saved ones (only the number of epochs may change)"
                )
        config = saved.replace(epochs=None if config is None else config.epochs)
        expected_fp = record["fingerprint"]
    elif record_path.exists():
        raise ConfigError(
            f"{run_dir}: already holds a training run (config.json); pass --resume to continue "
            "it or choose another --out"
        )
    config = config if config is not None else TrainConfig()
    cache = open_cache(cache_dir, expected_fingerprint=expected_fp)
    if splits is not None:
        cache = cache.with_splits(read_splits(splits))
    train_idx = select_subjects(cache, "train", needs_age=ModelConfig(kind=kind).needs_age)
    if len(train_idx) == 0:
        source = f"splits file {splits}" if splits is not None else "its split column"
        raise CacheError(
            f"{cache.root}: no healthy training subjects (split 'train', label 0) according to "
            f"{source}; assign splits with `brainuad split` and pass --splits"
        )
    model_config = config.model_config(kind, cache.shape, training_age_stats(cache, train_idx))
    if record is not None and tuple(record["model"]["input_shape"]) != cache.shape:
        raise CheckpointError(
            f"{record_path}: the run's model takes volumes of shape "
            f"{tuple(record['model']['input_shape'])}, the cache {cache.root} holds {cache.shape}"
        )
    val_idx = select_subjects(cache, "val", needs_age=model_config.needs_age)
    last = None
    if resume and checkpoint_path(run_dir, "last").is_file():
        last = read_checkpoint(checkpoint_path(run_dir, "last"))
        if last[1].get("model") != model_config.to_dict():
            raise CheckpointError(
                f"{checkpoint_path(run_dir, 'last')}: the checkpoint's model configuration "
                f"differs from {record_path}"
            )
    return RunPlan(
        run_dir=run_dir,
        kind=kind,
        config=config,
        model_config=model_config,
        cache=cache,
        train_idx=train_idx,
        val_idx=val_idx,
        n_anomalous_train_ignored=len(cache.indices(split="train", label=1)),
        splits=None if splits is None else Path(splits),
        resume=resume,
        last=last,
    )


def training_age_stats(cache: Cache, train_idx: np.ndarray) -> tuple[float, float] | None:
    """(mean, SD) in years of the known ages of the training subjects, for the age head.

    ``None`` when fewer than two ages are known (the :class:`ModelConfig` defaults apply); an SD
    below one year (a cohort of one age) is raised to one year.
    """
    ages = cache_ages(cache)[train_idx]
    ages = ages[np.isfinite(ages)]
    if len(ages) < 2:
        return None
    return round(float(ages.mean()), 6), round(max(float(ages.std(ddof=1)), 1.0), 6)


def write_run_record(plan: RunPlan, world_size: int) -> None:
    """Write (or, on resume, refresh) ``RUN_DIR/config.json`` atomically."""
    write_json_atomic(plan.config_path, plan.run_record(world_size))


def write_log(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``RUN_DIR/log.csv`` from the epoch rows (missing values left empty)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    for row in history:
        writer.writerow([_cell(row.get(c)) for c in LOG_COLUMNS])
    write_text_atomic(run_dir / "log.csv", buf.getvalue())


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_run_config(run_dir: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` saved in ``RUN_DIR/config.json``."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: nothing to resume (config.json not found)")
    return TrainConfig.from_dict(_read_run_record(path)["train"])
