"""Sample-level detection metrics: AUC, AUPRC and specificity at 100% sensitivity.

Conventions: label 1 = anomalous (the positive class), label 0 = normal; a higher score is more
anomalous. Ties are handled exactly as scikit-learn does:

- **AUC** (``roc_auc_score``): the Mann-Whitney statistic, a tied positive/negative pair counts
  one half.
- **AUPRC** (``average_precision_score``): ``sum_t (R_t - R_{t-1}) P_t`` over the distinct score
  values ``t`` in decreasing order, a tied group entering at once.
- **Specificity at 100% sensitivity** ("spec100"): the largest specificity over the thresholds
  that flag every anomalous subject, i.e. the share of normal subjects scoring *strictly* below
  the lowest anomalous score (a normal subject tied with it is flagged too).

All three are computed by one vectorised engine, :func:`weighted_rank_metrics`, that evaluates
them for many weight vectors at once (one per bootstrap resample or jackknife leave-one-out): a
subject's weight is how many times it appears in the resample. Scores are sorted once; the
per-resample work is a gather, a grouped sum over tied values and cumulative sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from brainuad.errors import BrainUADError

METRICS = ("auc", "auprc", "spec100")


class ScoreInputError(BrainUADError, ValueError):
    """Scores or labels given to an evaluation function are unusable (NaN, one class, ...)."""


def check_scores_labels(
    scores: ArrayLike, labels: ArrayLike, *, name: str = "scores"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert ``scores`` (finite floats) and ``labels`` (0/1, both classes present).

    Returns ``(scores float64, labels bool)``; raises :class:`ScoreInputError` naming ``name``.
    """
    s = np.asarray(scores, dtype=np.float64)
    y_raw = np.asarray(labels)
    if s.ndim != 1 or y_raw.ndim != 1:
        raise ScoreInputError(
            f"{name}: expected 1-D scores and labels, found shapes {s.shape} and {y_raw.shape}"
        )
    if s.shape != y_raw.shape:
        raise ScoreInputError(
            f"{name}: expected as many labels as scores, found {y_raw.size} labels "
            f"for {s.size} scores"
        )
    n_bad = int(np.count_nonzero(~np.isfinite(s)))
    if n_bad:
        raise ScoreInputError(
            f"{name}: expected finite scores, found {n_bad} NaN/infinite of {s.size}"
        )
    try:
        y_num = y_raw.astype(np.float64)
    except (TypeError, ValueError):
        raise ScoreInputError(f"{name}: expected numeric labels 0/1, found {y_raw.dtype}") from None
    if not np.all((y_num == 0) | (y_num == 1)):
        found = sorted({float(v) for v in np.unique(y_num)} - {0.0, 1.0})[:3]
        raise ScoreInputError(f"{name}: expected labels 0/1, found {found}")
    y = y_num == 1
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ScoreInputError(
            f"{name}: expected both normal (0) and anomalous (1) subjects, found "
            f"{y.size - n_pos} normal and {n_pos} anomalous"
        )
    return s, y


@dataclass(frozen=True, eq=False)
class RankedScores:
    """A score vector sorted once: tie groups and labels in ascending score order.

    Attributes:
        order: permutation sorting the scores ascending (stable).
        starts: start offset (in sorted order) of each group of equal scores.
        positive: labels in sorted order (True = anomalous).
    """

    order: np.ndarray
    starts: np.ndarray
    positive: np.ndarray

    @classmethod
    def from_scores(cls, scores: np.ndarray, labels: np.ndarray) -> RankedScores:
        """Sort ``scores`` (validated float64) with boolean ``labels``."""
        order = np.argsort(scores, kind="stable")
        s = scores[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        return cls(order=order, starts=starts, positive=labels[order])


def group_weights(ranked: RankedScores, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tie group (ascending score), the summed weights of anomalous and normal subjects.

    ``weights`` has shape ``(B, n)``; returns two ``(B, G)`` float64 arrays.
    """
    w = np.asarray(weights, dtype=np.float64)[:, ranked.order]
    pos_w = np.where(ranked.positive, w, 0.0)
    neg_w = w - pos_w
    if ranked.starts.size == ranked.order.size:  # no tied scores: groups are subjects
        return pos_w, neg_w
    return (
        np.add.reduceat(pos_w, ranked.starts, axis=1),
        np.add.reduceat(neg_w, ranked.starts, axis=1),
    )


def metrics_from_groups(
    pos_w: np.ndarray, neg_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUC, average precision and spec100 from grouped weights (see :func:`group_weights`)."""
    total_pos = pos_w.sum(axis=1)
    total_neg = neg_w.sum(axis=1)
    neg_below = np.cumsum(neg_w, axis=1) - neg_w  # normal weight strictly below each group
    # AUC: each positive beats the negatives below it, ties count one half (exact in floats
    # because weights are integer counts).
    wins2 = (pos_w * (2.0 * neg_below + neg_w)).sum(axis=1)
    auc = wins2 / (2.0 * total_pos * total_neg)
    # AP: precision at the threshold of each group = weight at or above it that is positive.
    tp_at = pos_w + (total_pos[:, None] - np.cumsum(pos_w, axis=1))
    all_at = tp_at + (total_neg[:, None] - neg_below)
    has_pos = pos_w > 0
    precision = np.divide(tp_at, all_at, out=np.zeros_like(tp_at), where=has_pos)
    ap = (pos_w * precision).sum(axis=1) / total_pos
    # spec100: normal weight strictly below the lowest group holding a positive.
    first_pos = np.argmax(has_pos, axis=1)
    spec = np.take_along_axis(neg_below, first_pos[:, None], axis=1)[:, 0] / total_neg
    return auc, ap, spec


def weighted_rank_metrics(
    ranked: RankedScores, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUC, AUPRC and spec100 for each row of ``weights`` (shape ``(B, n)``, counts >= 0).

    Every row must give both classes a positive total weight. Returns three arrays of length B.
    """
    return metrics_from_groups(*group_weights(ranked, weights))


def _point(scores: ArrayLike, labels: ArrayLike, index: int) -> float:
    s, y = check_scores_labels(scores, labels)
    ranked = RankedScores.from_scores(s, y)
    return float(weighted_rank_metrics(ranked, np.ones((1, s.size)))[index][0])


def auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve, equal to scikit-learn's ``roc_auc_score`` (ties count 1/2)."""
    return _point(scores, labels, 0)


def average_precision(scores: ArrayLike, labels: ArrayLike) -> float:
    """AUPRC as average precision, equal to scikit-learn's ``average_precision_score``."""
    return _point(scores, labels, 1)


def specificity_at_full_sensitivity(scores: ArrayLike, labels: ArrayLike) -> float:
    """Largest specificity among thresholds that flag every anomalous subject (spec100).

    The share of normal subjects scoring strictly below the lowest anomalous score.
    """
    return _point(scores, labels, 2)


def detection_metrics(scores: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """All three point estimates at once: ``{"auc": ..., "auprc": ..., "spec100": ...}``."""
    s, y = check_scores_labels(scores, labels)
    values = weighted_rank_metrics(RankedScores.from_scores(s, y), np.ones((1, s.size)))
    return {name: float(v[0]) for name, v in zip(METRICS, values, strict=True)}
