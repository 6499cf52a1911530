"""Export a trained method of a study (``brainuad run`` results folder) as a model bundle.

:func:`export_bundle` reads, from ``RESULTS_DIR``: ``metrics.json`` (the combined weights chosen
on validation and the test metrics), ``scores/<method>.csv`` (validation scores: reference
distributions and operating points), ``runs/<method>/checkpoints/best.safetensors`` (weights,
model and training configs), ``cache/cache.json`` (preprocessing settings and fingerprint, the
ages and QC measures of the training subjects) and ``splits.csv``. The checkpoint is the one the
study scored (``checkpoint:`` in ``config.yaml``, ``last`` by default). :func:`export_best`
picks the method with the best **validation** AUC of the combined score (the test split is never
used to choose what ships, so the bundle's test figures stay unbiased). :func:`write_bundle` is
the lower-level writer (see :mod:`brainuad.bundle.format` for the layout).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from brainuad.bundle.format import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    BUNDLE_JSON,
    DEFAULT_MAP_SIGMA,
    REFERENCE_FILE,
    WEIGHTS_FILE,
    save_weights,
    seal_record,
    sha256_file,
)
from brainuad.bundle.reference import (
    CombinedWeights,
    Reference,
    operating_points,
    reference_table,
)
from brainuad.errors import CheckpointError, ConfigError, InputFileError
from brainuad.evaluation.brainage import fit_bias_correction
from brainuad.io.atomic import atomic_dir, write_json_atomic
from brainuad.methods import export_preference

QC_REFERENCE_COLUMNS = ("brain_volume_ml", "p01", "p50", "p99")
PERCENTILE_DEFINITION = (
    "100 * (number of healthy reference subjects with a score <= the scan's score) / n"
)


def choose_best_method(metrics: Mapping[str, Any]) -> str:
    """The method with the highest **validation** AUC of its combined score (the grid search's
    best, ``weights.val_auc``); ties go to the lower ``export_rank`` of the registry
    (:mod:`brainuad.methods`), then the order in ``metrics.json``. Test figures play no part
    in the choice."""
    methods = list(metrics.get("methods", []))
    if not methods:
        raise ConfigError("metrics.json lists no method to export")
    preference = export_preference()

    def key(item: tuple[int, dict[str, Any]]) -> tuple[float, int, int]:
        pos, m = item
        val_auc = (m.get("weights") or {}).get("val_auc")
        auc = float("-inf") if val_auc is None else float(val_auc)
        name = str(m["method"])
        pref = preference.index(name) if name in preference else len(preference)
        return (-auc, pref, pos)

    return str(min(enumerate(methods), key=key)[1]["method"])


def export_best(results_dir: str | Path, out_dir: str | Path, which: str | None = None) -> Path:
    """Export the best method of a results folder (see :func:`choose_best_method`)."""
    metrics = _read_metrics(Path(results_dir) / "metrics.json")
    return export_bundle(results_dir, choose_best_method(metrics), out_dir, which)


def study_checkpoint(results_dir: str | Path) -> str:
    """The checkpoint a study scored: ``checkpoint:`` of ``RESULTS/config.yaml`` (``last`` if
    the file or the key is absent)."""
    import yaml

    path = Path(results_dir) / "config.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputFileError(path, f"unreadable study configuration ({exc})") from exc
    which = doc.get("checkpoint", "last") if isinstance(doc, dict) else "last"
    if which not in ("last", "best"):
        raise InputFileError(path, f"checkpoint: expected last or best, found {which!r}")
    return str(which)


def export_bundle(
    results_dir: str | Path, method: str, out_dir: str | Path, which: str | None = None
) -> Path:
    """Export ``method`` of a ``brainuad run`` results folder as a bundle in ``out_dir``.

    ``which`` (``last``/``best``) defaults to the checkpoint the study scored.
    """
    from brainuad.bundle.lesions import export_record as lesion_export_record
    from brainuad.io.cache import open_cache
    from brainuad.splits import read_splits
    from brainuad.training.checkpoint import checkpoint_path, read_checkpoint

    results = Path(results_dir)
    metrics_path = results / "metrics.json"
    metrics = _read_metrics(metrics_path)
    entries = {str(m["method"]): m for m in metrics["methods"]}
    if method not in entries:
        raise ConfigError(
            f"{metrics_path}: method {method!r} was not evaluated; available: {', '.join(entries)}"
        )
    entry = entries[method]
    ckpt = checkpoint_path(results / "runs" / method, which or study_checkpoint(results))
    tensors, state = read_checkpoint(ckpt)
    cache = open_cache(results / "cache")
    if state.get("fingerprint") != cache.fingerprint:
        raise CheckpointError(
            f"{ckpt}: trained on preprocessing fingerprint {state.get('fingerprint')}, but "
            f"{results / 'cache'} has {cache.fingerprint}: the cache changed after training"
        )
    splits_path = results / "splits.csv"
    if splits_path.is_file():
        cache = cache.with_splits(read_splits(splits_path))
    train = cache.subjects.iloc[cache.indices(split="train", label=0)]
    scores_path = results / "scores" / f"{method}.csv"
    return write_bundle(
        out_dir,
        tensors=tensors,
        state=state,
        scores=_read_scores(scores_path),
        weights=CombinedWeights.from_dict(entry["weights"]),
        preprocess_settings=cache.settings,
        train_subjects=train,
        method=method,
        extra={
            "lesion_candidates": lesion_export_record(results, method),
            "performance": {
                "val_auc": entry["weights"].get("val_auc"),
                "test": entry["scores"].get("combined"),
                "n_val": entry.get("n_val"),
                "n_test": entry.get("n_test"),
                "mae_n": entry.get("mae_n"),
            },
            "source": {
                "results_dir": str(results.resolve()),
                "checkpoint": str(ckpt.relative_to(results)),
                "scores": str(scores_path.relative_to(results)),
                "template": cache.meta.get("template"),
            },
        },
    )


def write_bundle(
    out_dir: str | Path,
    *,
    tensors: Mapping[str, torch.Tensor],
    state: Mapping[str, Any],
    scores: pd.DataFrame,
    weights: CombinedWeights,
    preprocess_settings: Mapping[str, Any],
    train_subjects: pd.DataFrame,
    method: str | None = None,
    map_sigma: float = DEFAULT_MAP_SIGMA,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a bundle folder (replaced as a whole, atomically) and return its path.

    ``tensors``/``state`` are a checkpoint's (``read_checkpoint``); ``scores`` the scores table
    of the val (and test) subjects (``subject_id, split, label, age, rec, kl, age_pred``);
    ``train_subjects`` the healthy training rows of the cache (``age`` and QC columns).
    """
    from brainuad.bundle.load import preprocess_config_from_settings
    from brainuad.experiment.state import package_versions
    from brainuad.io.cache import settings_fingerprint
    from brainuad.models import ModelConfig, build_model
    from brainuad.training.checkpoint import restore_model

    out = Path(out_dir)
    _check_target(out)
    preprocess_config_from_settings(preprocess_settings, "the preprocessing settings")
    model_cfg = ModelConfig.from_dict(state["model"])
    model_tensors = {k: v for k, v in tensors.items() if k.startswith("model.")}
    restore_model(build_model(model_cfg), model_tensors, out / WEIGHTS_FILE)  # fail early
    if not model_cfg.has_age_head and weights.gamma != 0:
        raise ConfigError(f"{model_cfg.kind} has no age score, but gamma = {weights.gamma}")

    val = scores[scores["split"] == "val"]
    test = scores[scores["split"] == "test"]
    healthy = val[val["label"] == 0]
    if healthy.empty or (val["label"] == 1).sum() == 0:
        raise ConfigError(
            "the validation scores need healthy and anomalous subjects to set the operating "
            f"points, found {len(healthy)} healthy and {int((val['label'] == 1).sum())} anomalous"
        )
    head = model_cfg.has_age_head
    table = reference_table(
        healthy["subject_id"].tolist(),
        healthy["age"],
        healthy["rec"],
        healthy["kl"],
        healthy["age_pred"] if head else None,
        weights,
    )
    correction = fit_bias_correction(healthy["age_pred"], healthy["age"]) if head else None
    sens100, spec95 = operating_points(
        _combined(val, weights, head), val["label"], _combined(test, weights, head), test["label"]
    )
    record: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": method or model_cfg.kind,
        "kind": model_cfg.kind,
        "model": model_cfg.to_dict(),
        "train": dict(state.get("train", {})),
        "seed": state.get("seed"),
        "epoch": state.get("epoch"),
        "preprocessing": {
            "settings": dict(preprocess_settings),
            "fingerprint": settings_fingerprint(preprocess_settings),
        },
        "combined_weights": weights.to_dict(),
        "operating_points": {p.name: p.to_dict() for p in (sens100, spec95)},
        "flag_rule": "flagged when combined >= threshold",
        "training": _training_summary(train_subjects),
        "brain_age": None
        if not head
        else {
            "training_mean": model_cfg.age_mean,
            "training_sd": model_cfg.age_sd,
            "bias_correction": None if correction is None else correction.to_dict(),
        },
        "qc_reference": _qc_reference(train_subjects),
        "map_sigma": float(map_sigma),
        "versions": package_versions(),
        **dict(extra or {}),
    }
    with atomic_dir(out) as tmp:
        save_weights(tmp / WEIGHTS_FILE, model_tensors, model_cfg.kind)
        table.to_csv(tmp / REFERENCE_FILE, index=False)
        record["weights"] = {"file": WEIGHTS_FILE, "sha256": sha256_file(tmp / WEIGHTS_FILE)}
        record["reference"] = {
            "file": REFERENCE_FILE,
            "sha256": sha256_file(tmp / REFERENCE_FILE),
            "subjects": "healthy validation subjects",
            "n": len(table),
            "percentile": PERCENTILE_DEFINITION,
            "scores": Reference.from_table(table).summary(),
        }
        write_json_atomic(tmp / BUNDLE_JSON, seal_record(record))
    return out


def _combined(rows: pd.DataFrame, weights: CombinedWeights, has_head: bool) -> np.ndarray:
    err = rows["age_abs_error"].to_numpy(dtype=np.float64) if has_head else None
    return weights.combine(rows["rec"], rows["kl"], err)


def _check_target(out: Path) -> None:
    """Refuse to replace a folder that is not a bundle (the export replaces it as a whole)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: --out must be a folder, found a file")
    if out.is_dir() and any(out.iterdir()) and not (out / BUNDLE_JSON).is_file():
        raise ConfigError(
            f"{out}: folder exists and is not a model bundle (no {BUNDLE_JSON}); choose another "
            "--out (an existing bundle is replaced as a whole)"
        )


def _read_metrics(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputFileError(
            path, "metrics.json not found (expected a results folder of `brainuad run`)"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"unreadable metrics ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("schema") != "brainuad-metrics/1":
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise InputFileError(path, f"expected schema 'brainuad-metrics/1', found {found!r}")
    return doc


def _read_scores(path: Path) -> pd.DataFrame:
    from brainuad.evaluation.scores_table import validate_scores_frame

    if not path.is_file():
        raise InputFileError(path, "scores table not found (expected scores/<method>.csv)")
    raw = pd.read_csv(path, dtype={"subject_id": str, "split": str})
    validate_scores_frame(raw, path)  # raises a clear error on any problem
    rows = raw[raw["split"].isin(("val", "test"))].copy()
    for col in ("age", "age_pred", "age_abs_error"):
        rows[col] = pd.to_numeric(rows[col], errors="coerce") if col in rows else np.nan
    return rows.reset_index(drop=True)


def _training_summary(train: pd.DataFrame) -> dict[str, Any]:
    ages = pd.to_numeric(train.get("age", pd.Series(dtype=float)), errors="coerce")
    ages = ages[np.isfinite(ages)]
    if ages.empty:
        return {"n": len(train), "age_range": None, "age_mean": None}
    return {
        "n": len(train),
        "age_range": {"min": float(ages.min()), "max": float(ages.max())},
        "age_mean": float(ages.mean()),
    }


def _qc_reference(train: pd.DataFrame) -> dict[str, dict[str, float]]:
    out = {}
    for col in QC_REFERENCE_COLUMNS:
        if col not in train:
            continue
        v = pd.to_numeric(train[col], errors="coerce").to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            out[col] = {"min": float(v.min()), "max": float(v.max()), "median": float(np.median(v))}
    return out
