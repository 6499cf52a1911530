"""BCa intervals against scipy.stats.bootstrap(method='BCa') with scikit-learn statistics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from eval_helpers import sklearn_spec100
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from brainuad.errors import ConfigError
from brainuad.evaluation.bootstrap import (
    bca_interval,
    bootstrap_metrics,
    stratified_resample_weights,
)
from brainuad.evaluation.metrics import METRICS


def _data(seed: int, n_pos: int = 25, n_neg: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)
    s = np.round(rng.normal(size=y.size) + 0.9 * y, 1)  # rounded: plenty of ties
    return s, y


def _sklearn_statistic(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """scikit-learn metric of (anomalous scores, normal scores); rank statistics are snapped to
    their exact lattice (k / 2PN, k / N) so float noise cannot flip `theta_b <= theta`."""

    def statistic(pos: np.ndarray, neg: np.ndarray) -> float:
        y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
        s = np.r_[pos, neg]
        if metric == "auc":
            d = 2 * pos.size * neg.size
            return round(roc_auc_score(y, s) * d) / d
        if metric == "auprc":
            return float(average_precision_score(y, s))
        return round(sklearn_spec100(y, s) * neg.size) / neg.size

    return statistic


@pytest.mark.parametrize("metric", METRICS)
def test_same_resamples_give_scipy_bca_interval(metric: str) -> None:
    s, y = _data(0)
    ours = bootstrap_metrics({"s": s}, y, n_resamples=600, seed=7, chunk_size=250)
    ref = stats.bootstrap(
        (s[y == 1], s[y == 0]),
        _sklearn_statistic(metric),
        n_resamples=600,
        batch=250,
        method="BCa",
        vectorized=False,
        rng=np.random.default_rng(7),
    )
    m = METRICS.index(metric)
    np.testing.assert_allclose(ours.replicates[0, m], ref.bootstrap_distribution, atol=1e-12)
    iv = ours.interval("s", metric)
    assert iv.ci_low == pytest.approx(ref.confidence_interval.low, abs=1e-9)
    assert iv.ci_high == pytest.approx(ref.confidence_interval.high, abs=1e-9)
    assert iv.ci_low <= iv.value <= iv.ci_high


def test_bca_formula_matches_scipy_for_a_mean() -> None:
    # generic check of bias correction + acceleration on a skewed one-sample statistic
    x = np.random.default_rng(3).exponential(size=40)
    ref = stats.bootstrap((x,), np.mean, n_resamples=2000, method="BCa", rng=1)
    jack = (x.sum() - x) / (x.size - 1)
    low, high = bca_interval(x.mean(), ref.bootstrap_distribution, jack, 0.95)
    assert (low, high) == pytest.approx(tuple(ref.confidence_interval), abs=1e-12)


def test_intervals_agree_with_scipy_on_independent_resamples() -> None:
    # different random streams: agreement within Monte-Carlo error of the interval ends
    s, y = _data(5, n_pos=40, n_neg=60)
    pos, neg = s[y == 1], s[y == 0]

    def auc_vec(p: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
        diff = p[..., :, None] - n[..., None, :]  # brute force over all pairs
        return ((diff > 0) + 0.5 * (diff == 0)).mean(axis=(-2, -1))

    ref = stats.bootstrap((pos, neg), auc_vec, n_resamples=4000, batch=500, method="BCa", rng=11)
    iv = bootstrap_metrics({"s": s}, y, n_resamples=4000, seed=12).interval("s", "auc")
    assert iv.value == pytest.approx(auc_vec(pos, neg))
    assert iv.ci_low == pytest.approx(ref.confidence_interval.low, abs=0.015)
    assert iv.ci_high == pytest.approx(ref.confidence_interval.high, abs=0.015)


def test_jackknife_values_are_leave_one_out_sklearn() -> None:
    s, y = _data(2, n_pos=8, n_neg=12)
    boot = bootstrap_metrics({"s": s}, y, n_resamples=10)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for group, jack in ((pos, boot.jackknife_pos), (neg, boot.jackknife_neg)):
        for j, i in enumerate(group):
            keep = np.arange(s.size) != i
            assert jack[0, 0, j] == pytest.approx(roc_auc_score(y[keep], s[keep]), abs=1e-12)
            ap = average_precision_score(y[keep], s[keep])
            assert jack[0, 1, j] == pytest.approx(ap, abs=1e-12)
            assert jack[0, 2, j] == pytest.approx(sklearn_spec100(y[keep], s[keep]), abs=1e-12)


def test_constant_scores_collapse_without_nan() -> None:
    y = np.r_[np.ones(5), np.zeros(7)].astype(int)
    boot = bootstrap_metrics({"c": np.ones(12)}, y, n_resamples=200)
    iv = boot.interval("c", "auc")
    assert (iv.value, iv.ci_low, iv.ci_high) == (0.5, 0.5, 0.5)
    assert boot.interval("c", "spec100").ci_high == 0.0


def test_single_anomalous_subject_is_usable() -> None:
    y = np.r_[1, np.zeros(9)].astype(int)
    s = np.arange(10.0)
    iv = bootstrap_metrics({"s": s}, y, n_resamples=300).interval("s", "auc")
    assert np.isfinite([iv.ci_low, iv.ci_high]).all() and iv.value == 0.0


def test_seeded_and_shared_across_scores() -> None:
    s, y = _data(4)
    a = bootstrap_metrics({"x": s, "y": -s}, y, n_resamples=300, seed=5)
    b = bootstrap_metrics({"x": s}, y, n_resamples=300, seed=np.random.default_rng(5))
    c = bootstrap_metrics({"x": s}, y, n_resamples=300, seed=6)
    np.testing.assert_array_equal(a.replicates[0], b.replicates[0])
    assert not np.array_equal(a.replicates[0], c.replicates[0])
    # same resamples for both scores: AUC(-s) = 1 - AUC(s) in every resample
    np.testing.assert_allclose(a.replicates[1, 0], 1.0 - a.replicates[0, 0], atol=1e-12)
    d = a.difference("x", "y", "auc")
    assert d.value == pytest.approx(2 * a.estimates[0, 0] - 1)


def test_bad_settings_are_config_errors() -> None:
    s, y = _data(0)
    with pytest.raises(ConfigError, match=r"strictly between 0 and 1, found 1.5"):
        bootstrap_metrics({"s": s}, y, confidence=1.5)
    with pytest.raises(ConfigError, match=r"positive integers, found 0"):
        bootstrap_metrics({"s": s}, y, n_resamples=0)
    with pytest.raises(ConfigError, match=r"at least one score"):
        bootstrap_metrics({}, y)


def test_resamples_are_stratified_counts() -> None:
    y = np.array([1, 0, 0, 1, 0, 0, 0])  # int labels
    rng = np.random.default_rng(0)
    chunks = list(stratified_resample_weights(y, 250, rng, chunk_size=100))
    assert [c.shape for c in chunks] == [(100, 7), (100, 7), (50, 7)]
    w = np.vstack(chunks)
    assert (w[:, y == 1].sum(axis=1) == 2).all() and (w[:, y == 0].sum(axis=1) == 5).all()
    assert (w == np.round(w)).all() and w.min() >= 0
