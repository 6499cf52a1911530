"""Paired AUC tests: DeLong against a brute-force implementation, bootstrap consistency."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from brainuad.evaluation.compare import delong_test, paired_auc_test
from brainuad.evaluation.metrics import ScoreInputError


def _pair(seed: int, n_pos: int = 60, n_neg: int = 90, gap: float = 0.3):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)
    shared = rng.normal(size=y.size)
    a = np.round(shared + rng.normal(size=y.size) * 0.7 + 1.0 * y, 1)
    b = np.round(shared + rng.normal(size=y.size) * 0.7 + (1.0 - gap) * y, 1)
    return a, b, y


def _delong_brute_force(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Textbook DeLong from the pairwise kernel psi(x, z) = [x > z] + [x == z] / 2."""
    comps = []
    for s in (a, b):
        diff = s[y == 1][:, None] - s[y == 0][None, :]
        psi = (diff > 0) + 0.5 * (diff == 0)
        comps.append((psi.mean(axis=1), psi.mean(axis=0)))  # V10 per anomalous, V01 per normal
    s10 = np.cov(np.vstack([comps[0][0], comps[1][0]]))
    s01 = np.cov(np.vstack([comps[0][1], comps[1][1]]))
    contrast = np.array([1.0, -1.0])
    var = contrast @ s10 @ contrast / (y == 1).sum() + contrast @ s01 @ contrast / (y == 0).sum()
    return float(comps[0][0].mean() - comps[1][0].mean()), float(np.sqrt(var))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_matches_brute_force(seed: int) -> None:
    a, b, y = _pair(seed)
    res = delong_test(a, b, y)
    diff, se = _delong_brute_force(a, b, y)
    assert res.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert res.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert res.difference == pytest.approx(diff, abs=1e-12)
    assert res.se == pytest.approx(se, rel=1e-10)
    assert res.z == pytest.approx(diff / se, rel=1e-9)


def test_bootstrap_and_delong_agree() -> None:
    a, b, y = _pair(4, n_pos=100, n_neg=150)
    res = paired_auc_test(a, b, y, names=("A", "B"), n_resamples=3000, seed=1)
    # the bootstrap spread of the difference is the DeLong standard error, roughly
    width = res.difference.ci_high - res.difference.ci_low
    assert width / (2 * 1.96) == pytest.approx(res.delong.se, rel=0.2)
    assert res.difference.ci_low <= res.difference.value <= res.difference.ci_high
    assert (res.p_bootstrap < 0.05) == (res.delong.p_value < 0.05)
    assert res.n_anomalous == 100 and res.n_normal == 150
    d = res.to_dict()
    assert d["method_a"] == "A" and d["p_delong"] == res.delong.p_value


def test_identical_scores_are_not_different() -> None:
    a, _, y = _pair(5)
    res = paired_auc_test(a, a.copy(), y, n_resamples=500)
    assert res.difference.value == 0.0
    assert (res.difference.ci_low, res.difference.ci_high) == (0.0, 0.0)
    assert res.p_bootstrap == 1.0 and res.delong.p_value == 1.0 and res.delong.z == 0.0


def test_clear_difference_is_significant_and_antisymmetric() -> None:
    a, b, y = _pair(6, gap=0.9)
    ab = paired_auc_test(a, b, y, n_resamples=2000, seed=3)
    ba = paired_auc_test(b, a, y, n_resamples=2000, seed=3)
    assert ab.difference.value > 0.1 and ab.p_bootstrap < 0.01 and ab.delong.p_value < 0.01
    assert ba.difference.value == pytest.approx(-ab.difference.value)
    assert ba.delong.p_value == pytest.approx(ab.delong.p_value)
    assert ba.difference.ci_high == pytest.approx(-ab.difference.ci_low, abs=1e-12)


def test_errors() -> None:
    a, b, y = _pair(0)
    with pytest.raises(ScoreInputError, match=r"two different names"):
        paired_auc_test(a, b, y, names=("x", "x"))
    with pytest.raises(ScoreInputError, match=r"scores_b: expected finite scores"):
        delong_test(a, np.r_[b[:-1], np.nan], y)
