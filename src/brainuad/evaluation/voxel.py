"""Voxel-level evaluation of anomaly maps: where is the anomaly? (pure NumPy, no torch)

The field's conventions (Baur et al. 2021), on maps post-processed by
:mod:`brainuad.scoring.postprocess` and evaluated inside each subject's eroded brain mask:

- **Pooled voxel AUROC and AUPRC** over every brain voxel of every test subject: healthy
  subjects contribute negatives only. Exact, equal to scikit-learn's ``roc_auc_score`` and
  ``average_precision_score`` on the concatenated voxels (ties included), without a Python loop:
  the negatives are sorted once (``np.sort``) and each positive is placed among them by binary
  search; positives (lesion voxels, a few percent) are sorted too. AUROC is the Mann-Whitney
  count (a tie counts one half); AUPRC is ``sum (R_t - R_t-1) P_t`` over the distinct positive
  values, where recall changes (a threshold between two positive values changes nothing).
- **Thresholds chosen on healthy validation subjects only**: for a voxel false-positive rate
  ``f`` (1% and 5%, :data:`FPRS`), the threshold ``t`` is the ``floor(f n)+1``-th largest of the
  ``n`` pooled healthy validation voxels, so that at most ``f n`` of them are ``> t``. Test
  labels never enter, so these thresholds move only when the healthy validation maps do.
- **Per-subject Dice** of ``map > t`` (small components removed) with the lesion mask, for
  test subjects with a non-empty mask; the mean over subjects gets a BCa interval (bootstrap of
  subjects, :func:`brainuad.evaluation.bootstrap.bca_interval`).
- **Oracle Dice**: the threshold that maximises the pooled Dice of all test voxels (it is a
  distinct positive value; found from the same sorted arrays) and the per-subject Dice there.
  It looks at the test labels: an **upper bound**, not an achievable result (peers often report
  it without saying so).
- **Soft Dice** against the lesion *fraction* of each model voxel (``2 sum(p f) / (sum p + sum
  f)``), at the same thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brainuad.errors import BrainUADError
from brainuad.evaluation.bootstrap import Interval, bca_interval

FPRS = (0.01, 0.05)


class VoxelInputError(BrainUADError, ValueError):
    """Voxel maps or masks given to the voxel evaluation are unusable."""


def fpr_key(fpr: float) -> str:
    """The JSON key of a false-positive rate: 0.01 -> ``fpr1``, 0.05 -> ``fpr5``."""
    return f"fpr{100 * fpr:g}".replace(".", "_")


@dataclass(frozen=True)
class PooledRanking:
    """Exact ranking metrics of pooled voxels and the pooled-Dice oracle threshold."""

    auroc: float
    auprc: float
    oracle_dice: float
    oracle_threshold: float  # flag ``value > oracle_threshold``
    n_voxels: int
    n_positive: int


def pooled_ranking(scores: np.ndarray, labels: np.ndarray) -> PooledRanking:
    """AUROC, AUPRC and the best pooled Dice of ``scores`` (1-D) against ``labels`` (bool)."""
    s = np.asarray(scores, dtype=np.float32).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    if s.shape != y.shape:
        raise VoxelInputError(
            f"pooled voxels: expected one label per voxel, found {y.size} for {s.size}"
        )
    if not np.all(np.isfinite(s)):
        raise VoxelInputError(
            f"pooled voxels: expected finite map values, found {int(np.sum(~np.isfinite(s)))}"
            " NaN/infinite"
        )
    neg = np.sort(s[~y])
    pos = np.sort(s[y])[::-1]
    n_pos, n_neg = pos.size, neg.size
    if n_pos == 0 or n_neg == 0:
        raise VoxelInputError(
            f"pooled voxels: expected lesion and non-lesion voxels, found {n_pos} and {n_neg}"
        )
    below = np.searchsorted(neg, pos, side="left")  # negatives < value
    not_above = np.searchsorted(neg, pos, side="right")  # negatives <= value
    auroc = float(np.sum(below + 0.5 * (not_above - below), dtype=np.float64) / n_pos / n_neg)
    # distinct positive values in decreasing order; a tied group enters at once
    last = np.r_[pos[1:] != pos[:-1], True]  # last element of each tied group
    tp = np.flatnonzero(last) + 1.0  # positives >= value
    fp = (n_neg - below[last]).astype(np.float64)  # negatives >= value
    precision = tp / (tp + fp)
    recall_step = np.diff(np.r_[0.0, tp]) / n_pos
    auprc = float(np.sum(recall_step * precision))
    dice = 2.0 * tp / (tp + fp + n_pos)
    best = int(np.argmax(dice))
    value = pos[last][best]
    threshold = float(np.nextafter(value, np.float32(-np.inf), dtype=np.float32))
    return PooledRanking(auroc, auprc, float(dice[best]), threshold, s.size, n_pos)


def healthy_thresholds(
    healthy_values: Sequence[np.ndarray] | np.ndarray, fprs: Sequence[float] = FPRS
) -> dict[float, float]:
    """Thresholds with voxel false-positive rate <= ``fpr`` on pooled healthy voxels.

    ``healthy_values``: the post-processed map values inside the eroded brain masks of the
    healthy validation subjects (one array per subject, or one pooled array).
    """
    parts = [healthy_values] if isinstance(healthy_values, np.ndarray) else healthy_values
    v = np.concatenate([np.asarray(p, dtype=np.float32).ravel() for p in parts]) if parts else []
    if len(v) == 0:
        raise VoxelInputError(
            "thresholds: expected healthy validation voxels, found none (no healthy val subject)"
        )
    n = v.size
    out: dict[float, float] = {}
    for f in fprs:
        if not 0.0 < float(f) < 1.0:
            raise VoxelInputError(f"thresholds: expected a rate in (0, 1), found {f}")
        k = int(np.floor(float(f) * n))  # at most k voxels may lie above the threshold
        out[float(f)] = float(np.partition(v, n - 1 - k)[n - 1 - k])
    return out


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two binary masks; NaN when both are empty."""
    p, t = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    denom = int(p.sum()) + int(t.sum())
    return float("nan") if denom == 0 else 2.0 * int(np.sum(p & t)) / denom


def soft_dice(pred: np.ndarray, fraction: np.ndarray) -> float:
    """Dice of a binary mask with a soft truth in [0, 1]; NaN when both are empty."""
    p = np.asarray(pred, dtype=np.float64)
    f = np.asarray(fraction, dtype=np.float64)
    denom = float(p.sum() + f.sum())
    return float("nan") if denom == 0 else 2.0 * float(np.sum(p * f)) / denom


def mean_interval(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> Interval:
    """The mean of per-subject values with a BCa interval over subjects (resampled with
    replacement); NaN values are left out; NaN interval with fewer than 2 values."""
    d = np.asarray(values, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    est = float(d.mean())
    if d.size < 2:
        return Interval(est, float("nan"), float("nan"))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    reps = np.empty(int(n_resamples))
    chunk = max(1, 2_000_000 // d.size)
    for start in range(0, reps.size, chunk):
        b = min(chunk, reps.size - start)
        idx = rng.integers(0, d.size, (b, d.size))
        reps[start : start + b] = d[idx].mean(axis=1)
    jack = (d.sum() - d) / (d.size - 1)
    low, high = bca_interval(est, reps, jack, confidence)
    return Interval(est, low, high)


def subject_pair_counts(
    values: Sequence[np.ndarray], truths: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per subject pair (s, t): the Mann-Whitney count of s's lesion voxels over t's others.

    Returns ``(A, n_pos, n_neg)``: ``A[s, t] = sum over lesion voxels v of s of (#non-lesion
    voxels of t below v + half those equal to v)``; ``n_pos``/``n_neg`` per subject. The pooled
    AUROC of any subject weighting ``w`` is ``w A w / ((w n_pos) (w n_neg))``, exactly.
    """
    pos = [
        np.asarray(v, np.float32)[np.asarray(t, bool)] for v, t in zip(values, truths, strict=True)
    ]
    all_pos = np.concatenate(pos) if pos else np.zeros(0, np.float32)
    owner = np.repeat(np.arange(len(pos)), [p.size for p in pos])
    n = len(pos)
    a = np.zeros((n, n))
    n_neg = np.zeros(n)
    for t, (v, y) in enumerate(zip(values, truths, strict=True)):
        neg = np.sort(np.asarray(v, np.float32)[~np.asarray(y, bool)])
        n_neg[t] = neg.size
        below = np.searchsorted(neg, all_pos, side="left")
        tied = np.searchsorted(neg, all_pos, side="right") - below
        a[:, t] = np.bincount(owner, weights=below + 0.5 * tied, minlength=n)
    return a, np.asarray([p.size for p in pos], dtype=np.float64), n_neg


def pooled_auroc_interval(
    values: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> Interval:
    """Pooled voxel AUROC with a BCa interval over subjects (exact for every resample).

    Subjects are resampled with replacement, those with and without lesion voxels separately
    (as :func:`brainuad.evaluation.bootstrap.stratified_resample_weights`); each replicate is
    computed exactly from :func:`subject_pair_counts`. NaN interval with fewer than 2 subjects
    in a group.
    """
    from brainuad.evaluation.bootstrap import stratified_resample_weights

    a, n_pos, n_neg = subject_pair_counts(values, truths)

    def auc(w: np.ndarray) -> np.ndarray:
        return np.einsum("bs,st,bt->b", w, a, w) / ((w @ n_pos) * (w @ n_neg))

    est = float(auc(np.ones((1, n_pos.size)))[0])
    has = n_pos > 0
    if has.sum() < 2 or (~has).sum() + (n_neg[has] > 0).sum() < 2:
        return Interval(est, float("nan"), float("nan"))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    reps = np.concatenate([auc(w) for w in stratified_resample_weights(has, n_resamples, rng)])
    jack = []
    for group in (np.flatnonzero(has), np.flatnonzero(~has)):
        w = np.ones((group.size, n_pos.size))
        w[np.arange(group.size), group] = 0.0
        jack.append(auc(w) if group.size > 1 else np.zeros(0))
    low, high = bca_interval(est, reps[np.isfinite(reps)], jack, confidence)
    return Interval(est, low, high)
