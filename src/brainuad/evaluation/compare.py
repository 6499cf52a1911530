"""Is method A's AUC significantly different from method B's on the same test subjects?

Two paired tests of ``AUC_a - AUC_b``, beyond the paper (which reports only per-method CIs):

- **Paired stratified bootstrap**: both methods' scores are resampled together (the same
  subjects in every resample, stratified by class as in :mod:`brainuad.evaluation.bootstrap`).
  The difference gets a BCa interval, and a two-sided p-value
  ``p = min(1, 2 * (1 + min(#{d_b <= 0}, #{d_b >= 0})) / (B + 1))``.
- **DeLong's test** (DeLong, DeLong & Clarke-Pearson 1988): the variance of the difference from
  the structural components (per-subject placement values), ``z = diff / se``, two-sided normal
  p-value. Deterministic and O(n log n). With ``se = 0`` (e.g. identical scores): ``z = 0``,
  ``p = 1`` when the AUCs are equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from brainuad.evaluation.bootstrap import DEFAULT_RESAMPLES, Interval, bootstrap_metrics
from brainuad.evaluation.metrics import ScoreInputError, check_scores_labels


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's paired test of two correlated AUCs."""

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p_value: float


@dataclass(frozen=True)
class PairedAUCTest:
    """Paired comparison of the AUCs of two scores of the same subjects (A minus B)."""

    name_a: str
    name_b: str
    n_anomalous: int
    n_normal: int
    auc_a: float
    auc_b: float
    difference: Interval
    p_bootstrap: float
    delong: DeLongResult
    n_resamples: int
    confidence: float

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return {
            "method_a": self.name_a,
            "method_b": self.name_b,
            "n_anomalous": self.n_anomalous,
            "n_normal": self.n_normal,
            "auc_a": self.auc_a,
            "auc_b": self.auc_b,
            "difference": self.difference.to_dict(),
            "p_bootstrap": self.p_bootstrap,
            "delong_z": self.delong.z,
            "delong_se": self.delong.se,
            "p_delong": self.delong.p_value,
            "n_resamples": self.n_resamples,
            "confidence": self.confidence,
        }


def placement_values(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components of one score.

    Returns ``(v10, v01)``: for each anomalous subject the share of normal subjects it beats
    (ties 1/2), for each normal subject the share of anomalous subjects beating it. Both have
    mean AUC.
    """
    pos, neg = np.sort(scores[labels]), np.sort(scores[~labels])
    sp, sn = scores[labels], scores[~labels]
    below = np.searchsorted(neg, sp, "left")
    tied = np.searchsorted(neg, sp, "right") - below
    v10 = (below + 0.5 * tied) / neg.size
    above = pos.size - np.searchsorted(pos, sn, "right")
    tied = np.searchsorted(pos, sn, "right") - np.searchsorted(pos, sn, "left")
    v01 = (above + 0.5 * tied) / pos.size
    return v10, v01


def _cov(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return 0.0
    return float(np.sum((x - x.mean()) * (y - y.mean())) / (x.size - 1))


def delong_test(scores_a: ArrayLike, scores_b: ArrayLike, labels: ArrayLike) -> DeLongResult:
    """DeLong's test of ``AUC(scores_a) - AUC(scores_b)`` on the same subjects."""
    sa, y = check_scores_labels(scores_a, labels, name="scores_a")
    sb, _ = check_scores_labels(scores_b, labels, name="scores_b")
    a10, a01 = placement_values(sa, y)
    b10, b01 = placement_values(sb, y)
    auc_a, auc_b = float(a10.mean()), float(b10.mean())
    d10, d01 = a10 - b10, a01 - b01
    var = _cov(d10, d10) / d10.size + _cov(d01, d01) / d01.size
    se = float(np.sqrt(max(var, 0.0)))
    diff = auc_a - auc_b
    if se > 0:
        z = diff / se
    else:
        z = 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    return DeLongResult(auc_a, auc_b, diff, se, float(z), float(2.0 * ndtr(-abs(z))))


def paired_auc_test(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    labels: ArrayLike,
    *,
    names: tuple[str, str] = ("a", "b"),
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> PairedAUCTest:
    """Paired bootstrap (BCa interval, p-value) and DeLong test of ``AUC_a - AUC_b``.

    ``scores_a[i]`` and ``scores_b[i]`` must belong to the same subject, labelled ``labels[i]``.
    """
    if names[0] == names[1]:
        raise ScoreInputError(f"paired_auc_test: expected two different names, found {names}")
    boot = bootstrap_metrics(
        {names[0]: scores_a, names[1]: scores_b},
        labels,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    diff = boot.difference(names[0], names[1], "auc")
    d_b = boot.replicates[0, 0] - boot.replicates[1, 0]
    tail = min(np.count_nonzero(d_b <= 0), np.count_nonzero(d_b >= 0))
    p_boot = min(1.0, 2.0 * (1 + tail) / (d_b.size + 1))
    dl = delong_test(scores_a, scores_b, labels)
    _, y = check_scores_labels(scores_a, labels, name=names[0])
    return PairedAUCTest(
        name_a=names[0],
        name_b=names[1],
        n_anomalous=int(np.count_nonzero(y)),
        n_normal=int(np.count_nonzero(~y)),
        auc_a=float(boot.estimates[0, 0]),
        auc_b=float(boot.estimates[1, 0]),
        difference=diff,
        p_bootstrap=float(p_boot),
        delong=dl,
        n_resamples=int(n_resamples),
        confidence=float(confidence),
    )
