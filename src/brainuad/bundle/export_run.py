"""Export a bare training run (``brainuad train`` folder) plus its cache as a model bundle.

Without a study's ``metrics.json`` and scores, :func:`export_run` computes what the bundle needs
from the run's checkpoint (``last`` by default) and the preprocessed cache it was trained on (by
default the one recorded in ``RUN_DIR/config.json``): it scores the validation (and test)
subjects, chooses the combined weights on validation by the paper's grid search (exact AUC, as
``brainuad evaluate``) and sets the operating points on them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainuad.bundle.export import write_bundle
from brainuad.bundle.reference import CombinedWeights
from brainuad.errors import CacheError, CheckpointError


def is_run_dir(path: str | Path) -> bool:
    """True when ``path`` is a ``brainuad train`` run folder (``config.json`` of a run)."""
    record = Path(path) / "config.json"
    if not record.is_file():
        return False
    try:
        return json.loads(record.read_text(encoding="utf-8")).get("format") == "brainuad-run"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    cache_dir: str | Path | None = None,
    splits: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
    which: str = "last",
) -> Path:
    """Export the ``which`` checkpoint of a training run (module docstring); returns the bundle.

    ``cache_dir``/``splits`` default to those recorded in ``RUN_DIR/config.json``. The cache must
    hold healthy and anomalous validation subjects.
    """
    from brainuad.evaluation import grid_search_combined
    from brainuad.io.cache import open_cache
    from brainuad.scoring import score_run
    from brainuad.splits import read_splits
    from brainuad.training.checkpoint import checkpoint_path, read_checkpoint

    run = Path(run_dir)
    record = _run_record(run)
    ckpt = checkpoint_path(run, which)
    tensors, state = read_checkpoint(ckpt)
    cache_path = Path(cache_dir) if cache_dir is not None else _recorded(record, "cache", run)
    cache = open_cache(cache_path, expected_fingerprint=state.get("fingerprint"))
    splits_path = splits if splits is not None else record.get("splits")
    if splits_path:
        cache = cache.with_splits(read_splits(splits_path))
    scores = score_run(run, cache, split="eval", which=which, device=device, progress=progress)
    for col in ("age", "rec", "kl", "age_pred", "age_abs_error"):
        scores[col] = pd.to_numeric(scores[col], errors="coerce")
    val = scores[scores["split"] == "val"]
    n_anom = int(val["label"].sum())
    if n_anom == 0 or n_anom == len(val):
        raise CacheError(
            f"{cache_path}: the validation split needs healthy and anomalous subjects to choose "
            f"the weights and operating points, found {len(val) - n_anom} healthy and {n_anom} "
            "anomalous (pass --splits)"
        )
    has_head = bool(np.isfinite(val["age_abs_error"]).all())
    search = grid_search_combined(
        val["rec"].to_numpy(),
        val["kl"].to_numpy(),
        val["age_abs_error"].to_numpy() if has_head else None,
        val["label"].to_numpy(),
    )
    train = cache.subjects.iloc[cache.indices(split="train", label=0)]
    extra: dict[str, Any] = {
        "performance": {"val_auc": search.auc},
        "source": {
            "run_dir": str(run.resolve()),
            "checkpoint": str(ckpt.relative_to(run)),
            "cache": str(Path(cache_path).resolve()),
            "template": cache.meta.get("template"),
        },
    }
    return write_bundle(
        out_dir,
        tensors=tensors,
        state=state,
        scores=scores,
        weights=CombinedWeights(search.alpha, search.beta, search.gamma),
        preprocess_settings=cache.settings,
        train_subjects=train,
        method=str(state.get("kind", record.get("kind"))),
        extra=extra,
    )


def _run_record(run: Path) -> dict[str, Any]:
    if not is_run_dir(run):
        raise CheckpointError(f"{run}: not a training run folder (config.json of a run not found)")
    return json.loads((run / "config.json").read_text(encoding="utf-8"))


def _recorded(record: dict[str, Any], key: str, run: Path) -> Path:
    value = record.get(key)
    if not value or not Path(value).exists():
        raise CacheError(
            f"{run / 'config.json'}: the recorded {key} {value!r} is not available; pass --cache"
        )
    return Path(value)
