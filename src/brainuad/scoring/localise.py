"""Voxel-level localisation of one trained method on a cache (the study's ``localise`` stage).

For every healthy validation subject and every test subject: one forward pass, the smoothed
residual map (:func:`~brainuad.scoring.residuals.anomaly_map`), the post-processing of
:mod:`~brainuad.scoring.postprocess`. The healthy validation maps fix the thresholds (1% and 5%
voxel false-positive rate); the test maps are evaluated against the cache's lesion masks with
:mod:`brainuad.evaluation.voxel` (pooled AUROC/AUPRC, Dice at the thresholds, oracle Dice).

Ground truth: the cache's lesion mask (0.5-thresholded fraction) and, for soft Dice, its
fraction. Pooled metrics use the voxels inside each subject's eroded brain mask; Dice compares
the thresholded map with the whole lesion mask. **An anomalous test subject whose lesion mask is
empty in model space** (no mask, or a lesion smaller than half a model voxel) is left out of the
voxel metrics with a warning (``excluded`` in the record); it is still scored at scan level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from brainuad.evaluation.voxel import (
    FPRS,
    dice,
    fpr_key,
    healthy_thresholds,
    mean_interval,
    pooled_auroc_interval,
    pooled_ranking,
    soft_dice,
)
from brainuad.io.cache import Cache
from brainuad.scoring.cohort import model_space_affine, resolve_device
from brainuad.scoring.postprocess import (
    PostprocessConfig,
    min_component_voxels,
    postprocess_map,
    threshold_map,
)
from brainuad.scoring.residuals import anomaly_map, score_batch

FIGURE_RANKS = ("best", "median", "worst")


def processed_maps(
    model: nn.Module,
    cache: Cache,
    indices: np.ndarray,
    *,
    config: PostprocessConfig,
    map_sigma: float = 1.0,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
) -> Any:
    """Yield ``(cache index, post-processed map, eroded mask)`` for the subjects at ``indices``."""
    ages = np.asarray(cache.subjects["age"], dtype=float)
    uses_age_input = bool(model.uses_age_input)  # the model says whether it reads the age
    for start in range(0, len(indices), batch_size):
        chunk = np.asarray(indices[start : start + batch_size], dtype=int)
        batch = score_batch(
            model,
            cache.volumes[chunk],
            cache.masks[chunk],
            ages[chunk] if uses_age_input else None,
            device=device,
            keep_residuals=True,
        )
        for j, i in enumerate(chunk):
            amap = anomaly_map(batch.residual[j], cache.masks[i], sigma=map_sigma)
            processed, mask = postprocess_map(amap, cache.masks[i], config)
            yield int(i), processed, mask


def localise_cache(
    model: nn.Module,
    cache: Cache,
    lesions: np.ndarray,
    fractions: Any,
    *,
    config: PostprocessConfig = PostprocessConfig(),
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    device: str = "auto",
    warn: Callable[[str], None] = print,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Voxel metrics of ``model`` on the test split; returns ``(record, figure arrays)``.

    ``lesions``: (N, X, Y, Z) binary masks in cache order; ``fractions``: indexable per subject
    (``fractions[i]`` in [0, 1], e.g. :func:`brainuad.preprocessing.load_lesion_fractions`) or
    None (soft Dice then uses the binary mask).

    The record is JSON-ready (see ``docs/localisation.md``); the figure arrays hold axial slices
    (scan, map, lesion, thresholded map) of the test subjects with the best, median and worst
    Dice at the 1% threshold.
    """
    dev = resolve_device(device)
    model = model.to(dev).eval()
    affine = model_space_affine(cache)
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    min_vox = min_component_voxels(config, voxel_ml)
    kwargs = {"config": config, "device": dev}
    val = cache.indices(split="val", label=0)
    healthy = [p[m] for _, p, m in processed_maps(model, cache, val, **kwargs)]
    thresholds = healthy_thresholds(healthy, FPRS)
    n_val_voxels = int(sum(h.size for h in healthy))
    del healthy

    labels = cache.subjects["label"].to_numpy()
    sids = cache.subjects["subject_id"].astype(str).to_numpy()
    values, truths, kept, excluded = [], [], [], []
    rows: list[dict[str, Any]] = []
    for i, processed, mask in processed_maps(model, cache, cache.indices(split="test"), **kwargs):
        lesion = np.asarray(lesions[i]) > 0
        if labels[i] == 1 and not lesion.any():
            reason = "anomalous subject with an empty lesion mask in model space"
            warn(f"warning: {sids[i]}: {reason}; left out of the voxel metrics")
            excluded.append({"subject_id": str(sids[i]), "reason": reason})
            continue
        values.append(processed[mask])
        truths.append(lesion[mask])
        row: dict[str, Any] = {"subject_id": str(sids[i]), "label": int(labels[i])}
        row["lesion_ml"] = float(lesion.sum()) * voxel_ml
        for f, t in thresholds.items():
            pred = threshold_map(processed, mask, t, min_vox)
            row[f"flagged_ml_{fpr_key(f)}"] = float(pred.sum()) * voxel_ml
            if lesion.any():
                row[f"dice_{fpr_key(f)}"] = dice(pred, lesion)
                frac = lesion if fractions is None else np.asarray(fractions[i])
                row[f"soft_dice_{fpr_key(f)}"] = soft_dice(pred, frac)
        if lesion.any():
            kept.append((len(rows), i, processed, mask, lesion))
        rows.append(row)
    ranking = pooled_ranking(np.concatenate(values), np.concatenate(truths))
    ci = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    auroc_ci = pooled_auroc_interval(values, truths, **ci)
    del values, truths
    for r, _, processed, mask, lesion in kept:
        pred = threshold_map(processed, mask, ranking.oracle_threshold, min_vox)
        rows[r]["dice_oracle"] = dice(pred, lesion)
    lesion_rows = [rows[r] for r, *_ in kept]
    dice_means = {
        key: mean_interval([row[f"dice_{key}"] for row in lesion_rows], **ci).to_dict()
        for key in [fpr_key(f) for f in thresholds] + ["oracle"]
    }
    soft_means = {
        fpr_key(f): mean_interval(
            [row[f"soft_dice_{fpr_key(f)}"] for row in lesion_rows], **ci
        ).to_dict()
        for f in thresholds
    }
    healthy_rows = [row for row in rows if row["label"] == 0]
    record = {
        "postprocess": config.to_dict(),
        "map_sigma": 1.0,
        "voxel_ml": voxel_ml,
        "thresholds": {fpr_key(f): t for f, t in thresholds.items()},
        "n_val_healthy": int(len(val)),
        "n_val_voxels": n_val_voxels,
        "n_test": len(rows),
        "n_test_lesion": len(lesion_rows),
        "excluded": excluded,
        "pooled": {
            "auroc": ranking.auroc,
            "auroc_ci": {"ci_low": auroc_ci.ci_low, "ci_high": auroc_ci.ci_high},
            "auprc": ranking.auprc,
            "n_voxels": ranking.n_voxels,
            "n_lesion_voxels": ranking.n_positive,
        },
        "dice": dice_means,
        "soft_dice": soft_means,
        "oracle": {
            "note": "upper bound: the threshold maximises the pooled Dice of the TEST labels",
            "threshold": ranking.oracle_threshold,
            "pooled_dice": ranking.oracle_dice,
        },
        "healthy_flagged_ml": {
            fpr_key(f): float(np.mean([r[f"flagged_ml_{fpr_key(f)}"] for r in healthy_rows]))
            if healthy_rows
            else float("nan")
            for f in thresholds
        },
        "subjects": rows,
    }
    figure = _figure(cache, kept, rows, thresholds[FPRS[0]], min_vox)
    return record, figure


def _figure(
    cache: Cache, kept: list[tuple], rows: list[dict[str, Any]], threshold: float, min_vox: float
) -> dict[str, np.ndarray]:
    """Axial slices through the lesion centre of the best, median and worst Dice at 1% FPR."""
    if not kept:
        return {}
    key = f"dice_{fpr_key(FPRS[0])}"
    order = sorted(kept, key=lambda k: (-np.nan_to_num(rows[k[0]][key], nan=-1.0), k[1]))
    picks = [order[0], order[len(order) // 2], order[-1]]
    out: dict[str, list[np.ndarray]] = {"input": [], "map": [], "lesion": [], "pred": []}
    for _, i, processed, mask, lesion in picks:
        z = int(round(float(np.argwhere(lesion)[:, 2].mean())))
        pred = threshold_map(processed, mask, threshold, min_vox)
        for name, vol in (
            ("input", np.asarray(cache.volumes[i], np.float32)),
            ("map", processed),
            ("lesion", lesion.astype(np.float32)),
            ("pred", pred.astype(np.float32)),
        ):
            out[name].append(np.rot90(vol[:, :, z]).astype(np.float32))
    arrays = {k: np.stack(v) for k, v in out.items()}
    arrays["subject_id"] = np.asarray([str(rows[p[0]]["subject_id"]) for p in picks])
    arrays["dice"] = np.asarray([float(rows[p[0]][key]) for p in picks])
    arrays["rank"] = np.asarray(FIGURE_RANKS)
    arrays["threshold"] = np.asarray(threshold)
    return arrays
