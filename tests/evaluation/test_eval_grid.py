"""Exact combined-score grid search against brute-force loops over scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from brainuad.errors import ConfigError
from brainuad.evaluation.grid import (
    PAPER_ALPHAS,
    PAPER_GAMMAS,
    combined_score,
    decimal_grid,
    grid_search_combined,
    pair_count_grid,
)
from brainuad.evaluation.metrics import ScoreInputError

ALPHAS_41 = decimal_grid("0", "2", "0.05")  # alpha = i / 20
GAMMAS_41 = decimal_grid("0", "20", "0.5")  # gamma = j / 2


def _labels(n_pos: int = 20, n_neg: int = 30) -> np.ndarray:
    return np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)


def _tied_integers(seed: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rec, kl, age = (rng.integers(0, hi, y.size).astype(float) for hi in (6, 4, 5))
    rec[:3], kl[:3], age[:3] = rec[-3:], kl[-3:], age[-3:]  # identical pos/neg subjects
    return rec, kl, age


def _best(counts: np.ndarray) -> tuple[int, int]:
    flat = int(np.argmax(counts))  # first maximum: smallest alpha, then smallest gamma
    return divmod(flat, counts.shape[1])


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_41x41_with_ties_equals_sklearn_brute_force_exactly(seed: int) -> None:
    y = _labels()
    rec, kl, age = _tied_integers(seed, y)
    counts = pair_count_grid(rec, kl, age, y, ALPHAS_41, GAMMAS_41)
    d = 2 * 20 * 30
    ref = np.empty((41, 41), dtype=np.int64)
    for i in range(41):
        for j in range(41):
            exact = i * rec + 20 * kl + 10 * j * age  # 20 * combined score, in integers
            ref[i, j] = round(roc_auc_score(y, exact) * d)
    np.testing.assert_array_equal(counts, ref)
    res = grid_search_combined(rec, kl, age, y, alphas=ALPHAS_41, gammas=GAMMAS_41)
    i, j = _best(ref)
    assert (res.alpha, res.gamma) == (ALPHAS_41[i], GAMMAS_41[j])
    assert res.auc == ref.max() / d and res.n_optimal == int(np.sum(ref == ref.max()))
    np.testing.assert_array_equal(np.rint(res.auc_grid * d), ref)


def test_continuous_scores_match_sklearn_on_float_combined_scores() -> None:
    rng = np.random.default_rng(2)
    y = _labels(25, 35)
    rec = rng.gamma(2.0, 0.01, y.size) + 0.004 * y
    kl = 100 * rng.normal(size=y.size) + 40 * y
    age = np.abs(rng.normal(8, 5, y.size)) + 3 * y
    alphas, gammas = ALPHAS_41[::2] * 500, GAMMAS_41[::2]  # 21 x 21
    res = grid_search_combined(rec, kl, age, y, alphas=alphas, gammas=gammas)
    ref = np.array(
        [[roc_auc_score(y, combined_score(rec, kl, age, a, g)) for g in gammas] for a in alphas]
    )
    np.testing.assert_allclose(res.auc_grid, ref, rtol=0, atol=1e-12)
    assert res.auc == pytest.approx(ref.max(), abs=1e-12)


def test_full_paper_grid_at_sampled_points() -> None:
    rng = np.random.default_rng(3)
    y = _labels(40, 80)  # the paper's validation split
    rec, kl = rng.integers(0, 50, y.size) / 4, rng.integers(0, 9, y.size) / 2
    age = np.round(4 * np.abs(rng.normal(7, 6, y.size)) + 16 * y) / 4  # quarter years
    res = grid_search_combined(rec, kl, age, y)
    assert res.auc_grid.shape == (2001, 2001)
    d = 2 * 40 * 80
    for i, j in zip(rng.integers(0, 2001, 60), rng.integers(0, 2001, 60), strict=True):
        # alpha = i/1000, gamma = j/100: 1000 * score is a multiple of 1/4, exact in floats
        exact = i * rec + 1000 * kl + 10 * j * age
        assert round(res.auc_grid[i, j] * d) == round(roc_auc_score(y, exact) * d)
    assert res.auc == res.auc_grid.max()


def test_tie_at_a_decimal_grid_value_is_exact() -> None:
    # 0.14 * 50 == 7 exactly, but 0.14 * 50 == 7.000000000000001 in floating point
    rec, kl, age, y = np.zeros(2), np.array([0.0, 7.0]), np.array([50.0, 0.0]), np.array([1, 0])
    gammas = decimal_grid("0", "0.2", "0.01")
    res = grid_search_combined(rec, kl, age, y, alphas=[0.0], gammas=gammas)
    assert res.auc_grid[0, 14] == 0.5  # tie
    assert res.auc_grid[0, 13] == 0.0 and res.auc_grid[0, 15] == 1.0
    assert roc_auc_score(y, kl + gammas[14] * age) == 1.0  # naive float evaluation misses it
    assert (res.gamma, res.auc) == (gammas[15], 1.0)


def test_without_age_gamma_is_zero_and_matches_alpha_scan() -> None:
    y = _labels()
    rec, kl, _ = _tied_integers(4, y)
    res = grid_search_combined(rec, kl, None, y, alphas=ALPHAS_41)
    ref = [roc_auc_score(y, i * rec + 20 * kl) for i in range(41)]
    assert res.gamma == 0.0 and res.auc_grid.shape == (41, 1)
    np.testing.assert_allclose(res.auc_grid[:, 0], ref, atol=1e-12)
    assert res.alpha == ALPHAS_41[int(np.argmax(np.round(ref, 12)))]


def test_tie_break_prefers_smallest_weights() -> None:
    y = _labels(3, 3)
    rec = np.zeros(6)
    kl = np.array([5.0, 6.0, 7.0, 1.0, 2.0, 3.0])  # perfect on kl alone, whatever gamma adds
    age = np.zeros(6)
    res = grid_search_combined(rec, kl, age, y, alphas=ALPHAS_41, gammas=GAMMAS_41)
    assert (res.alpha, res.gamma, res.auc, res.n_optimal) == (0.0, 0.0, 1.0, 41 * 41)
    d = res.to_dict()
    assert d["tie_break"] == "smallest alpha, then smallest gamma" and d["val_auc"] == 1.0


def test_decimal_grid_values_and_errors() -> None:
    assert PAPER_ALPHAS.size == 2001 and PAPER_GAMMAS.size == 2001
    assert PAPER_ALPHAS[3] == 0.003 and PAPER_GAMMAS[-1] == 20.0 and PAPER_GAMMAS[7] == 0.07
    with pytest.raises(ConfigError, match=r"whole number"):
        decimal_grid("0", "1", "0.3")
    with pytest.raises(ConfigError, match=r"start <= stop and step > 0"):
        decimal_grid("1", "0", "0.1")
    with pytest.raises(ConfigError, match=r"expected decimal numbers"):
        decimal_grid("a", "1", "0.1")


def test_bad_inputs_are_clear_errors() -> None:
    y = _labels(2, 2)
    x = np.arange(4.0)
    with pytest.raises(ConfigError, match=r"gammas: expected strictly increasing"):
        grid_search_combined(x, x, x, y, alphas=[0.0, 1.0], gammas=[1.0, 0.0])
    with pytest.raises(ScoreInputError, match=r"age: expected finite scores, found 1 NaN"):
        grid_search_combined(x, x, np.r_[x[:3], np.nan], y, alphas=[0.0], gammas=[0.0])
    with pytest.raises(ScoreInputError, match=r"rec: expected both normal"):
        grid_search_combined(x, x, x, np.zeros(4), alphas=[0.0], gammas=[0.0])
    with pytest.raises(ConfigError, match=r"gamma must be 0 without an age score"):
        combined_score(x, x, None, 1.0, 0.5)
