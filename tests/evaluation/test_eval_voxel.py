"""Voxel-level metrics: pooled AUROC/AUPRC against scikit-learn, Dice by hand, thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from brainuad.evaluation.voxel import (
    VoxelInputError,
    dice,
    fpr_key,
    healthy_thresholds,
    mean_interval,
    pooled_ranking,
    soft_dice,
)


def _pooled(seed: int = 0, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.04
    s = rng.normal(0.0, 1.0, n) + 1.2 * y
    s = np.round(s, 2).astype(np.float32)  # many ties, as quantised maps have
    return s, y


def test_pooled_auroc_auprc_equal_scikit_learn_on_a_subsample() -> None:
    s, y = _pooled()
    r = pooled_ranking(s, y)
    assert r.auroc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert r.auprc == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert (r.n_voxels, r.n_positive) == (s.size, int(y.sum()))


def test_oracle_dice_is_the_best_pooled_dice_over_all_thresholds() -> None:
    s, y = _pooled(1, 3_000)
    r = pooled_ranking(s, y)
    best = max(
        2 * np.sum((s > t) & y) / (np.sum(s > t) + y.sum()) for t in np.r_[np.unique(s), -np.inf]
    )
    assert r.oracle_dice == pytest.approx(best, abs=1e-12)
    pred = s > r.oracle_threshold
    assert 2 * np.sum(pred & y) / (pred.sum() + y.sum()) == pytest.approx(best, abs=1e-12)


def test_dice_and_soft_dice_by_hand() -> None:
    pred = np.zeros((4, 4, 4), bool)
    truth = np.zeros((4, 4, 4), bool)
    pred[0, 0, :3] = True  # 3 voxels
    truth[0, 0, 1:] = True  # 3 voxels, 2 shared
    assert dice(pred, truth) == pytest.approx(2 * 2 / (3 + 3))
    frac = truth * 0.5
    assert soft_dice(pred, frac) == pytest.approx(2 * 1.0 / (3 + 1.5))
    assert np.isnan(dice(np.zeros(3, bool), np.zeros(3, bool)))


def test_thresholds_depend_only_on_the_healthy_validation_maps() -> None:
    rng = np.random.default_rng(2)
    healthy = [rng.gamma(2.0, 1.0, 5_000).astype(np.float32) for _ in range(3)]
    t = healthy_thresholds(healthy, (0.01, 0.05))
    pooled = np.concatenate(healthy)
    for f, thr in t.items():
        assert np.mean(pooled > thr) <= f
        assert np.mean(pooled >= thr) > f  # the smallest such threshold
    assert t[0.05] < t[0.01]
    # same healthy maps, same thresholds (the test maps and labels are never an input)
    assert healthy_thresholds([h.copy() for h in healthy], (0.01, 0.05)) == t
    # a healthy validation map changes: the thresholds move
    brighter = [healthy[0] * 1.5, *healthy[1:]]
    assert healthy_thresholds(brighter, (0.01, 0.05))[0.01] > t[0.01]
    assert fpr_key(0.01) == "fpr1" and fpr_key(0.05) == "fpr5"


def test_mean_interval_is_a_bca_interval_around_the_mean() -> None:
    d = np.array([0.1, 0.5, 0.6, 0.7, 0.2, np.nan, 0.9])
    iv = mean_interval(d, n_resamples=2_000, seed=0)
    assert iv.value == pytest.approx(np.nanmean(d))
    assert iv.ci_low < iv.value < iv.ci_high
    assert mean_interval(d, n_resamples=2_000, seed=0) == iv


def test_errors() -> None:
    with pytest.raises(VoxelInputError, match="expected lesion and non-lesion voxels, found 0"):
        pooled_ranking(np.ones(5), np.zeros(5, bool))
    with pytest.raises(VoxelInputError, match="expected finite map values, found 1"):
        pooled_ranking(np.array([0.0, np.nan, 1.0]), np.array([0, 1, 1], bool))
    with pytest.raises(VoxelInputError, match="expected healthy validation voxels, found none"):
        healthy_thresholds([])


def test_pooled_auroc_interval_replicates_are_exact_weighted_aucs() -> None:
    from brainuad.evaluation.voxel import pooled_auroc_interval, subject_pair_counts

    rng = np.random.default_rng(5)
    values, truths = [], []
    for s in range(7):
        y = rng.random(400) < (0.1 if s < 4 else 0.0)  # 4 lesion subjects, 3 healthy
        values.append(np.round(rng.normal(0, 1, 400) + y, 1).astype(np.float32))
        truths.append(y)
    a, n_pos, n_neg = subject_pair_counts(values, truths)
    w = np.array([2.0, 0.0, 1.0, 1.0, 3.0, 0.0, 1.0])  # one resample's counts
    ours = (w @ a @ w) / ((w @ n_pos) * (w @ n_neg))
    sample_w = np.concatenate([np.full(v.size, ws) for v, ws in zip(values, w, strict=True)])
    ref = roc_auc_score(np.concatenate(truths), np.concatenate(values), sample_weight=sample_w)
    assert ours == pytest.approx(ref, abs=1e-12)
    iv = pooled_auroc_interval(values, truths, n_resamples=500, seed=0)
    assert iv.value == pytest.approx(
        pooled_ranking(np.concatenate(values), np.concatenate(truths)).auroc
    )
    assert iv.ci_low <= iv.value <= iv.ci_high
