"""Point estimates of AUC, AUPRC and spec100 against scikit-learn, ties and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from eval_helpers import sklearn_spec100
from sklearn.metrics import average_precision_score, roc_auc_score

from brainuad.evaluation.metrics import (
    RankedScores,
    ScoreInputError,
    auc,
    average_precision,
    check_scores_labels,
    detection_metrics,
    specificity_at_full_sensitivity,
    weighted_rank_metrics,
)


def _data(seed: int, tied: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 80))
    y = rng.integers(0, 2, n)
    y[:2] = (0, 1)  # both classes
    if tied:
        s = rng.integers(0, int(rng.integers(1, 6)), n).astype(float) + 0.5 * y * rng.integers(0, 2)
    else:
        s = rng.normal(size=n) + 0.7 * y
    return s, y


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_point_estimates_match_sklearn(seed: int, tied: bool) -> None:
    s, y = _data(seed, tied)
    assert auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(s, y) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert specificity_at_full_sensitivity(s, y) == pytest.approx(sklearn_spec100(y, s), abs=1e-12)
    assert detection_metrics(s, y) == pytest.approx(
        {
            "auc": auc(s, y),
            "auprc": average_precision(s, y),
            "spec100": specificity_at_full_sensitivity(s, y),
        }
    )


@pytest.mark.parametrize("seed", range(5))
def test_weighted_engine_matches_sklearn_sample_weight(seed: int) -> None:
    s, y = _data(seed, tied=seed % 2 == 0)
    rng = np.random.default_rng(100 + seed)
    w = rng.integers(0, 4, (6, s.size)).astype(float)
    w[:, :2] += 1  # keep both classes in every row
    ranked = RankedScores.from_scores(*check_scores_labels(s, y))
    a, ap, sp = weighted_rank_metrics(ranked, w)
    for b in range(w.shape[0]):
        assert a[b] == pytest.approx(roc_auc_score(y, s, sample_weight=w[b]), abs=1e-12)
        assert ap[b] == pytest.approx(average_precision_score(y, s, sample_weight=w[b]), abs=1e-12)
        keep = w[b] > 0  # sklearn's ROC keeps zero-weight subjects as thresholds; drop them
        assert sp[b] == pytest.approx(sklearn_spec100(y[keep], s[keep], w[b][keep]), abs=1e-12)


def test_weights_equal_duplicated_subjects() -> None:
    s, y = _data(3, tied=True)
    counts = np.random.default_rng(1).integers(1, 4, s.size)
    ranked = RankedScores.from_scores(*check_scores_labels(s, y))
    got = [v[0] for v in weighted_rank_metrics(ranked, counts[None].astype(float))]
    rep_s, rep_y = np.repeat(s, counts), np.repeat(y, counts)
    want = detection_metrics(rep_s, rep_y)
    assert got == pytest.approx([want["auc"], want["auprc"], want["spec100"]], abs=1e-12)


def test_constant_scores() -> None:
    y = np.array([0, 0, 0, 1, 1])
    s = np.full(5, 3.0)
    assert auc(s, y) == 0.5
    assert average_precision(s, y) == pytest.approx(0.4)
    assert specificity_at_full_sensitivity(s, y) == 0.0


def test_perfect_and_inverted_separation() -> None:
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert auc(s, y) == 1.0 and specificity_at_full_sensitivity(s, y) == 1.0
    assert auc(-s, y) == 0.0 and specificity_at_full_sensitivity(-s, y) == 0.0


def test_tie_with_lowest_anomalous_is_flagged() -> None:
    # normal subjects tied with the lowest anomalous score count as false positives
    y = np.array([0, 0, 0, 0, 1, 1])
    s = np.array([1.0, 2.0, 3.0, 3.0, 3.0, 5.0])
    assert specificity_at_full_sensitivity(s, y) == pytest.approx(0.5)


def test_nan_scores_are_an_error() -> None:
    with pytest.raises(ScoreInputError, match=r"expected finite scores, found 1 NaN"):
        auc([0.1, np.nan, 0.3], [0, 1, 1])


def test_single_class_is_an_error() -> None:
    with pytest.raises(ScoreInputError, match=r"both normal \(0\) and anomalous \(1\).*3 normal"):
        average_precision([0.1, 0.2, 0.3], [0, 0, 0])


def test_bad_labels_and_shapes_are_errors() -> None:
    with pytest.raises(ScoreInputError, match=r"expected labels 0/1, found \[2.0\]"):
        auc([0.1, 0.2], [0, 2])
    with pytest.raises(ScoreInputError, match=r"3 labels for 2 scores"):
        auc([0.1, 0.2], [0, 1, 1])
    with pytest.raises(ScoreInputError, match=r"expected numeric labels 0/1"):
        auc([0.1, 0.2], ["normal", "tumour"])
    with pytest.raises(ScoreInputError, match=r"expected 1-D"):
        auc([[0.1, 0.2]], [[0, 1]])
