"""The study's ``localise:<method>`` stage: voxel-level metrics of each method's anomaly maps.

Runs after ``score:<method>`` when the cache holds lesion masks (nothing to do otherwise) and
writes ``localisation/<method>.json`` (the record of :func:`brainuad.scoring.localise.
localise_cache`) and ``localisation/<method>.npz`` (the best/median/worst figure's slices). The
``evaluate`` stage copies the records into ``metrics.json`` under ``"localisation"``; the report
draws Table 2 and the figure from them. Skipped, like every stage, when its fingerprint (the
trained model's, the post-processing options, the evaluation settings) is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainuad.errors import InputFileError
from brainuad.experiment.state import RunState, fingerprint
from brainuad.io.atomic import atomic_path, write_json_atomic
from brainuad.io.cache import Cache

STAGE_VERSION = "localise-v1"
FOLDER = "localisation"


def localisation_paths(output: Path, method: str) -> tuple[Path, Path]:
    """``(record .json, figure .npz)`` of ``method`` in a results folder."""
    return output / FOLDER / f"{method}.json", output / FOLDER / f"{method}.npz"


def run_localise(
    config: Any,
    method: str,
    cache: Cache,
    train_fp: str,
    state: RunState,
    log: Callable[[str], None],
    ran: list[str],
) -> str | None:
    """Run (or skip) the stage for ``method``; returns its fingerprint, None without lesions."""
    from brainuad.evaluation.voxel import VoxelInputError
    from brainuad.preprocessing import load_lesion_fractions, load_lesions
    from brainuad.scoring.localise import localise_cache
    from brainuad.scoring.postprocess import PostprocessConfig
    from brainuad.training import load_checkpoint

    lesions = load_lesions(cache)
    if lesions is None:
        return None
    post = PostprocessConfig()
    stage = f"localise:{method}"
    record_path, figure_path = localisation_paths(config.output, method)
    fp = fingerprint(
        train_fp,
        STAGE_VERSION,
        config.checkpoint,
        post.to_dict(),
        config.n_resamples,
        config.confidence,
        config.seed,
    )
    if state.is_done(stage, fp, [record_path, figure_path]):
        log(f"[{stage}] up to date, skipped")
        return fp
    log(f"[{stage}] running")
    started = state.start(stage, fp)
    model, _ = load_checkpoint(
        config.output / "runs" / method, config.checkpoint, expected_shape=cache.shape
    )
    try:
        record, figure = localise_cache(
            model,
            cache,
            lesions,
            load_lesion_fractions(cache),
            config=post,
            n_resamples=config.n_resamples,
            confidence=config.confidence,
            seed=config.seed,
            device=config.device,
            warn=lambda text: log(f"[{stage}] {text}"),
        )
    except VoxelInputError as exc:  # e.g. no healthy val subject, no lesion voxel in test
        log(f"[{stage}] no voxel metrics: {exc}")
        state.interrupted(stage, started)
        for stale in (record_path, figure_path):  # an earlier record would be taken as this one
            stale.unlink(missing_ok=True)
        return None
    record = {"method": method, **record}
    write_json_atomic(record_path, record)
    with atomic_path(figure_path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **figure)
    pooled = record["pooled"]
    log(
        f"[{stage}] pooled voxel AUROC {pooled['auroc']:.3f}, AUPRC {pooled['auprc']:.3f}, "
        f"Dice@1%FPR {record['dice']['fpr1']['value']:.3f}"
    )
    state.finish(stage, started, n_test=record["n_test"], n_lesion=record["n_test_lesion"])
    ran.append(stage)
    return fp


def study_localisation(output: Path, methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The study's localisation records (those that exist), by method, for ``metrics.json``."""
    paths = [localisation_paths(output, m)[0] for m in methods]
    return read_localisation([p for p in paths if p.exists()])


def read_localisation(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """``{method: record}`` from localisation JSON files; a file without one raises."""
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputFileError(path, f"expected a localisation record (JSON), {exc}") from exc
        if not isinstance(doc, dict) or "method" not in doc or "pooled" not in doc:
            raise InputFileError(
                path, "expected a localisation record with 'method' and 'pooled', found another"
            )
        out[str(doc["method"])] = doc
    return out


def read_json(path: Path) -> Any:
    """A JSON file's content."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
