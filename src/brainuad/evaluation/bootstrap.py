"""BCa bootstrap confidence intervals of AUC, AUPRC and spec100, vectorised over resamples.

Resampling is **stratified by class**: in every resample the anomalous and the normal subjects
are drawn with replacement separately, each class keeping its size. Every resample therefore
holds both classes and every metric is defined on it (no resample is dropped or redrawn), and
the resamples are exactly those of ``scipy.stats.bootstrap((x[labels == 1], x[labels == 0]),
statistic, batch=chunk_size, rng=rng)``: per chunk, the anomalous subjects' indices are drawn
first, then the normal subjects'. The several scores of one method (and several methods scored
on the same subjects) share the resamples, so differences between them are paired.

The BCa interval follows Efron & Tibshirani (1993, §14.3) as ``scipy.stats.bootstrap`` does:

- bias correction ``z0 = Phi^-1(p)``, ``p = (#{theta_b < theta} + #{theta_b <= theta}) / 2B``;
  where every replicate lies on one side of the estimate (``p`` = 0 or 1, where scipy returns
  NaN) ``p`` is clipped to ``[1/2B, 1 - 1/2B]``;
- acceleration from the leave-one-out (jackknife) values of each class separately,
  ``a = sum_j sum_i U_ji^3 / n_j^3 / (6 (sum_j sum_i U_ji^2 / n_j^2)^1.5)`` with
  ``U_ji = (n_j - 1)(mean_i theta_ji - theta_ji)``; ``a = 0`` when all jackknife values agree
  (e.g. constant scores, where the interval collapses onto the estimate);
- the interval ends are the ``Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q)))`` quantiles of the
  replicates (linear interpolation), ``q = (1 - confidence) / 2`` and ``1 - q``.

The leave-one-out values come from the same weighted engine (weight 0 for the left-out subject),
vectorised: no Python loop over subjects or resamples.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from brainuad.errors import ConfigError
from brainuad.evaluation.metrics import (
    METRICS,
    RankedScores,
    check_scores_labels,
    weighted_rank_metrics,
)

DEFAULT_RESAMPLES = 10_000
DEFAULT_CHUNK = 1_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval."""

    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float]:
        """``{"value", "ci_low", "ci_high"}`` as plain floats."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


def check_confidence(confidence: float) -> float:
    """Return ``confidence`` as a float in (0, 1) or raise :class:`ConfigError`."""
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ConfigError(f"confidence: expected a level strictly between 0 and 1, found {c}")
    return c


def bca_interval(
    estimate: float,
    replicates: ArrayLike,
    jackknife: Sequence[ArrayLike] | np.ndarray,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Two-sided BCa interval from bootstrap replicates and jackknife values.

    Args:
        estimate: the statistic on the original data.
        replicates: the statistic on each bootstrap resample (1-D).
        jackknife: leave-one-out values, one 1-D array per independently resampled group (for
            stratified resampling: anomalous then normal), or a single 1-D array.
        confidence: coverage of the interval, e.g. 0.95.
    """
    conf = check_confidence(confidence)
    theta_b = np.asarray(replicates, dtype=np.float64).ravel()
    n_b = theta_b.size
    if n_b == 0:
        raise ConfigError("bca_interval: expected at least one bootstrap replicate, found none")
    below = np.count_nonzero(theta_b < estimate) + np.count_nonzero(theta_b <= estimate)
    prop = min(max(below / (2.0 * n_b), 0.5 / n_b), 1.0 - 0.5 / n_b)
    z0 = float(ndtri(prop))
    groups = [jackknife] if isinstance(jackknife, np.ndarray) and jackknife.ndim == 1 else jackknife
    num = den = 0.0
    for group in groups:
        g = np.asarray(group, dtype=np.float64).ravel()
        n = float(g.size)
        if n < 2:
            continue
        u = (n - 1.0) * (g.mean() - g)
        num += float(np.sum(u**3)) / n**3
        den += float(np.sum(u**2)) / n**2
    accel = num / (6.0 * den**1.5) if den > 0.0 else 0.0
    z_q = float(ndtri((1.0 - conf) / 2.0))
    levels = []
    for z in (z_q, -z_q):
        shift = z0 + z
        denom = 1.0 - accel * shift
        if denom > 0.0:
            levels.append(float(ndtr(z0 + shift / denom)))
        else:  # beyond the pole of the BCa map: the level runs off to 0 or 1
            levels.append(1.0 if shift > 0 else 0.0)
    low, high = np.quantile(theta_b, levels)
    return float(low), float(high)


def _class_columns(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    positive = np.asarray(labels).astype(bool)
    return np.flatnonzero(positive), np.flatnonzero(~positive)


def stratified_resample_weights(
    labels: np.ndarray, n_resamples: int, rng: np.random.Generator, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[np.ndarray]:
    """Yield ``(b, n)`` float arrays of resample counts, ``b <= chunk_size``, in order.

    Each row counts how often each subject is drawn; the anomalous (``labels`` True) and normal
    subjects are resampled separately with their own sizes (see the module docstring).
    """
    pos, neg = _class_columns(labels)
    n = pos.size + neg.size
    for start in range(0, n_resamples, chunk_size):
        b = min(chunk_size, n_resamples - start)
        counts = np.zeros((b, n), dtype=np.float64)
        rows = np.arange(b)[:, None]
        for cols in (pos, neg):  # anomalous first, as scipy with data=(pos, neg)
            idx = rng.integers(0, cols.size, (b, cols.size))
            c = np.bincount((rows * cols.size + idx).ravel(), minlength=b * cols.size)
            counts[:, cols] = c.reshape(b, cols.size)
        yield counts


def _leave_one_out_weights(n: int, left_out: np.ndarray, chunk_size: int) -> Iterator[np.ndarray]:
    for start in range(0, left_out.size, chunk_size):
        drop = left_out[start : start + chunk_size]
        w = np.ones((drop.size, n), dtype=np.float64)
        w[np.arange(drop.size), drop] = 0.0
        yield w


@dataclass(frozen=True, eq=False)
class MetricBootstrap:
    """Estimates, bootstrap replicates and jackknife values of the metrics of several scores.

    Arrays are indexed ``[score, metric, ...]`` with metrics in :data:`METRICS` order;
    ``jackknife_pos``/``jackknife_neg`` leave out one anomalous/normal subject at a time.
    """

    names: tuple[str, ...]
    estimates: np.ndarray  # (S, 3)
    replicates: np.ndarray  # (S, 3, B)
    jackknife_pos: np.ndarray  # (S, 3, n_anomalous)
    jackknife_neg: np.ndarray  # (S, 3, n_normal)
    confidence: float

    def _index(self, name: str, metric: str) -> tuple[int, int]:
        if name not in self.names or metric not in METRICS:
            raise KeyError(f"unknown score {name!r} or metric {metric!r}")
        return self.names.index(name), METRICS.index(metric)

    def interval(self, name: str, metric: str) -> Interval:
        """The BCa interval of ``metric`` (auc, auprc, spec100) of score ``name``."""
        i, m = self._index(name, metric)
        jack = (self.jackknife_pos[i, m], self.jackknife_neg[i, m])
        low, high = bca_interval(self.estimates[i, m], self.replicates[i, m], jack, self.confidence)
        return Interval(float(self.estimates[i, m]), low, high)

    def intervals(self) -> dict[str, dict[str, Interval]]:
        """``{score name: {metric: Interval}}`` for every score and metric."""
        return {n: {m: self.interval(n, m) for m in METRICS} for n in self.names}

    def difference(self, name_a: str, name_b: str, metric: str = "auc") -> Interval:
        """BCa interval of ``metric(a) - metric(b)`` over the shared (paired) resamples."""
        i, m = self._index(name_a, metric)
        j, _ = self._index(name_b, metric)
        est = float(self.estimates[i, m] - self.estimates[j, m])
        reps = self.replicates[i, m] - self.replicates[j, m]
        jack = (
            self.jackknife_pos[i, m] - self.jackknife_pos[j, m],
            self.jackknife_neg[i, m] - self.jackknife_neg[j, m],
        )
        low, high = bca_interval(est, reps, jack, self.confidence)
        return Interval(est, low, high)


def bootstrap_metrics(
    scores: Mapping[str, ArrayLike],
    labels: ArrayLike,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int | np.random.Generator = 0,
    chunk_size: int = DEFAULT_CHUNK,
) -> MetricBootstrap:
    """Bootstrap AUC, AUPRC and spec100 of every score in ``scores`` on shared resamples.

    Args:
        scores: ``{name: scores}``, all of the same subjects (higher = more anomalous).
        labels: 1 = anomalous, 0 = normal; both classes needed.
        n_resamples: number of stratified bootstrap resamples (10,000 as in the paper).
        confidence: interval coverage.
        seed: an int seed or a ``numpy.random.Generator`` (consumed).
        chunk_size: resamples processed at once (bounds memory: ``chunk_size * n`` floats).
    """
    if not scores:
        raise ConfigError("bootstrap_metrics: expected at least one score, found none")
    if int(n_resamples) < 1 or int(chunk_size) < 1:
        raise ConfigError(
            f"n_resamples and chunk_size: expected positive integers, "
            f"found {n_resamples} and {chunk_size}"
        )
    conf = check_confidence(confidence)
    names = tuple(scores)
    checked = [check_scores_labels(scores[k], labels, name=k) for k in names]
    y = checked[0][1]
    ranked = [RankedScores.from_scores(s, y) for s, _ in checked]
    n, n_s, n_b = y.size, len(names), int(n_resamples)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    estimates = np.empty((n_s, 3))
    for i, r in enumerate(ranked):
        estimates[i] = np.concatenate(weighted_rank_metrics(r, np.ones((1, n))))
    replicates = np.empty((n_s, 3, n_b))
    start = 0
    for w in stratified_resample_weights(y, n_b, rng, int(chunk_size)):
        for i, r in enumerate(ranked):
            replicates[i, :, start : start + w.shape[0]] = weighted_rank_metrics(r, w)
        start += w.shape[0]
    jack = []
    for cols in _class_columns(y):
        values = np.empty((n_s, 3, cols.size if cols.size > 1 else 0))
        at = 0
        for w in _leave_one_out_weights(n, cols[: values.shape[2]], int(chunk_size)):
            for i, r in enumerate(ranked):
                values[i, :, at : at + w.shape[0]] = weighted_rank_metrics(r, w)
            at += w.shape[0]
        jack.append(values)
    return MetricBootstrap(names, estimates, replicates, jack[0], jack[1], conf)
