"""Scoring every subject of a preprocessed cache with a trained run (``brainuad score``).

The result is the scores table shared with the evaluation stage: one row per subject with
``subject_id, split, label, age, rec, kl, age_pred, age_abs_error, method``. Volumes are streamed
from the memory-mapped cache in batches, so memory does not grow with the cohort.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from brainuad.errors import CacheError, CheckpointError, ConfigError
from brainuad.io.cache import Cache
from brainuad.io.nifti import save_volume
from brainuad.models import VAE
from brainuad.scoring.residuals import anomaly_map, score_batch

SCORE_COLUMNS = (
    "subject_id",
    "split",
    "label",
    "age",
    "rec",
    "kl",
    "age_pred",
    "age_abs_error",
    "method",
    "rec_mean",
)


def model_space_affine(cache: Cache) -> np.ndarray:
    """World affine of the cache's model-space grid (from the cache record, else 2.5 mm)."""
    aff = cache.meta.get("model_affine") or cache.settings.get("model_affine")
    if aff is not None:
        return np.asarray(aff, dtype=np.float64)
    spacing = float(cache.settings.get("downsample", 2.5))
    return np.diag([spacing, spacing, spacing, 1.0])


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` without a GPU is a ConfigError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA GPU is available (use cpu or auto)")
    return dev


def select_indices(cache: Cache, split: str = "all") -> np.ndarray:
    """Cache indices of ``split`` (``val``, ``test``, ``train``, ``eval`` = val+test, ``all``)."""
    if split == "all":
        return np.arange(len(cache))
    if split == "eval":
        return np.concatenate([cache.indices(split="val"), cache.indices(split="test")])
    return cache.indices(split=split)


def score_run(
    run_dir: str | Path,
    cache: Cache,
    *,
    split: str = "eval",
    which: str = "last",
    method: str | None = None,
    **kwargs: object,
) -> pd.DataFrame:
    """Load a trained run's checkpoint (``last`` by default, as the paper scores the model after
    its fixed number of epochs; ``best`` = lowest validation loss) and score ``split``.

    The cache must come from the preprocessing the run was trained on (same fingerprint)."""
    from brainuad.training import load_checkpoint

    resolve_device(str(kwargs.get("device", "auto")))  # before any loading
    model, state = load_checkpoint(run_dir, which, expected_shape=cache.shape)
    trained_on = state.get("fingerprint")
    if trained_on is not None and trained_on != cache.fingerprint:
        raise CacheError(
            f"{cache.root}: preprocessing fingerprint {cache.fingerprint} differs from the "
            f"{trained_on} the run {run_dir} was trained on (the cache was made with other "
            "preprocessing settings; preprocess the scans as for training)"
        )
    return score_cache(
        model,
        cache,
        method=method or str(state.get("kind", model.config.kind)),
        indices=select_indices(cache, split),
        **kwargs,  # type: ignore[arg-type]
    )


def score_cache(
    model: VAE,
    cache: Cache,
    *,
    method: str,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    device: str = "auto",
    maps_dir: str | Path | None = None,
    map_sigma: float = 1.0,
    progress: bool = True,
) -> pd.DataFrame:
    """Score the subjects at ``indices`` (default: all) of ``cache``; see module docstring.

    A model that scales its latent by the chronological age (``model.uses_age_input``) needs
    every subject's age: a subject without one raises :class:`~brainuad.errors.CacheError`.
    ``maps_dir`` saves each subject's smoothed residual map as ``<subject_id>.nii.gz`` in model
    space.
    """
    dev = resolve_device(device)
    model = model.to(dev).eval()
    idx = np.arange(len(cache)) if indices is None else np.asarray(indices, dtype=int)
    subjects = cache.subjects
    ages_all = pd.to_numeric(subjects["age"], errors="coerce").to_numpy(dtype=float)
    uses_age_input = bool(model.uses_age_input)
    if uses_age_input and np.isnan(ages_all[idx]).any():
        bad = subjects["subject_id"].iloc[idx[np.isnan(ages_all[idx])][0]]
        raise CacheError(
            f"{cache.root}: {method} needs the age of every subject; missing for {bad}"
        )
    affine = model_space_affine(cache)
    rows: list[dict[str, object]] = []
    bar = tqdm(total=len(idx), desc=f"score {method}", unit="vol", disable=not progress)
    for start in range(0, len(idx), batch_size):
        chunk = idx[start : start + batch_size]
        ages = ages_all[chunk]
        batch = score_batch(
            model,
            cache.volumes[chunk],
            cache.masks[chunk],
            ages if uses_age_input else None,
            device=dev,
            keep_residuals=maps_dir is not None,
        )
        bad = batch.nonfinite()
        if bad:
            sid = subjects["subject_id"].iloc[chunk[bad[0]]]
            raise CheckpointError(
                f"{cache.root}: the model's scores of subject {sid} are not finite (NaN or inf): "
                "the weights hold non-finite values or the volume is corrupt"
            )
        for j, i in enumerate(chunk):
            sid = str(subjects["subject_id"].iloc[i])
            age = float(ages[j])
            pred = None if batch.age_pred is None else float(batch.age_pred[j])
            rows.append(
                {
                    "subject_id": sid,
                    "split": str(subjects["split"].iloc[i] or ""),
                    "label": int(subjects["label"].iloc[i]),
                    "age": age,
                    "rec": float(batch.rec[j]),
                    "kl": float(batch.kl[j]),
                    "age_pred": pred,
                    "age_abs_error": None if pred is None or np.isnan(age) else abs(pred - age),
                    "method": method,
                    "rec_mean": float(batch.rec_mean[j]),
                }
            )
            if maps_dir is not None and batch.residual is not None:
                amap = anomaly_map(batch.residual[j], cache.masks[i], sigma=map_sigma)
                save_volume(Path(maps_dir) / f"{sid}.nii.gz", amap, affine)
        bar.update(len(chunk))
    bar.close()
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
