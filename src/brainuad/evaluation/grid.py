"""Exact grid search of the combined anomaly score's weights (paper Eq. 3).

``L_score = alpha * L_rec + beta * L_KL + gamma * L_age`` with ``beta = 1``,
``alpha in {0, 0.001, ..., 2}`` and ``gamma in {0, 0.01, ..., 20}`` (2001 x 2001 points); the
weights with the best validation AUC are kept. :func:`grid_search_combined` computes the
**exact** AUC (ties count one half, as scikit-learn's ``roc_auc_score``) at every grid point.

Algorithm. Only the order of an anomalous subject p and a normal subject n matters, through the
sign of ``d(alpha, gamma) = alpha * dr + beta * dk + gamma * da`` (``dr = rec_p - rec_n``,
...). For a fixed alpha it is linear in gamma and changes sign at most once, at
``gamma* = -(alpha dr + beta dk) / da``: for ``da > 0`` the pair is won for every grid gamma
above ``gamma*``, lost below it, tied at it (the reverse for ``da < 0``; for ``da = 0`` the sign
does not depend on gamma). Each pair's crossing is located in the sorted gamma grid by binary
search and the AUC along the whole gamma axis follows from a histogram of crossing positions and
one cumulative sum: ``O(A * P * log G + A * G)`` for ``P = n_anomalous * n_normal`` pairs,
vectorised over alphas in chunks. The full paper grid on 40 + 80 validation subjects takes about
a second.

Exactness. Scores are treated as the exact rationals their float64 values denote, and each grid
weight as the decimal it stands for (the simplest fraction with denominator <= 10^6 within four
ulps of the float, e.g. ``0.001`` = 1/1000; otherwise the float's exact value). The floating
point crossing is used only where it is far from a grid value (a relative margin of 10^-12,
thousands of times the rounding error); every grid value near a crossing (and every ``da = 0``
pair with ``|d|`` near 0) is decided with exact integer arithmetic. Ties at crossings are thus
counted exactly, which a brute-force loop over ``roc_auc_score`` reproduces only when its
scores are computed exactly (e.g. integer-scaled).

Tie-breaking: AUCs are compared as exact integer pair counts; among the grid points sharing the
best AUC the one with the **smallest alpha** is chosen, then the **smallest gamma**.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
from numpy.typing import ArrayLike

from brainuad.errors import ConfigError
from brainuad.evaluation.exact import ExactPairs
from brainuad.evaluation.metrics import check_scores_labels


def decimal_grid(start: str | float, stop: str | float, step: str | float) -> np.ndarray:
    """``start, start + step, ..., stop`` computed in decimal arithmetic, as float64.

    ``(stop - start) / step`` must be a whole number (the end point is included).
    """
    try:
        a, b, d = (Decimal(str(v)) for v in (start, stop, step))
    except InvalidOperation as exc:
        raise ConfigError(f"grid: expected decimal numbers, found {start}, {stop}, {step}") from exc
    if not (a.is_finite() and b.is_finite() and d.is_finite()) or d <= 0 or b < a:
        raise ConfigError(f"grid: expected start <= stop and step > 0, found {a}:{b}:{d}")
    count = (b - a) / d
    if count != count.to_integral_value() or count > 10**7:
        raise ConfigError(
            f"grid: expected (stop - start) / step to be a whole number <= 1e7, found {count}"
        )
    return np.array([float(a + k * d) for k in range(int(count) + 1)])


PAPER_ALPHAS = decimal_grid("0", "2", "0.001")
PAPER_GAMMAS = decimal_grid("0", "20", "0.01")
_MARGIN = 1e-12  # relative margin around a floating-point crossing decided exactly
_TINY = 1e-300  # absolute margin covering underflow in products


@dataclass(frozen=True, eq=False)
class GridSearchResult:
    """Best weights of the combined score and the AUC over the whole grid.

    Attributes:
        alpha, beta, gamma: chosen weights (gamma = 0 without an age score).
        auc: validation AUC at the chosen weights.
        n_optimal: number of grid points sharing that best AUC.
        alphas, gammas: the searched grids.
        auc_grid: AUC at every grid point, shape ``(len(alphas), len(gammas))``.
    """

    alpha: float
    beta: float
    gamma: float
    auc: float
    n_optimal: int
    alphas: np.ndarray
    gammas: np.ndarray
    auc_grid: np.ndarray

    def to_dict(self) -> dict[str, object]:
        """Chosen weights and grid description (without the AUC surface)."""
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
            "val_auc": self.auc,
            "n_optimal": self.n_optimal,
            "alpha_grid": _grid_summary(self.alphas),
            "gamma_grid": _grid_summary(self.gammas),
            "tie_break": "smallest alpha, then smallest gamma",
        }


def _grid_summary(values: np.ndarray) -> dict[str, float | int]:
    return {"min": float(values[0]), "max": float(values[-1]), "n": int(values.size)}


def _check_grid(values: ArrayLike, name: str) -> np.ndarray:
    g = np.asarray(values, dtype=np.float64)
    if g.ndim != 1 or g.size == 0 or not np.all(np.isfinite(g)):
        raise ConfigError(f"{name}: expected a non-empty 1-D grid of finite numbers")
    if np.any(np.diff(g) <= 0):
        raise ConfigError(f"{name}: expected strictly increasing values")
    return g


def combined_score(
    rec: ArrayLike,
    kl: ArrayLike,
    age: ArrayLike | None,
    alpha: float,
    gamma: float,
    beta: float = 1.0,
) -> np.ndarray:
    """``alpha * rec + beta * kl + gamma * age`` (``age`` None: gamma must be 0)."""
    s = alpha * np.asarray(rec, dtype=np.float64) + beta * np.asarray(kl, dtype=np.float64)
    if age is None:
        if gamma != 0:
            raise ConfigError(
                f"combined_score: gamma must be 0 without an age score, found {gamma}"
            )
        return s
    return s + gamma * np.asarray(age, dtype=np.float64)


def pair_count_grid(
    rec: ArrayLike,
    kl: ArrayLike,
    age: ArrayLike | None,
    labels: ArrayLike,
    alphas: ArrayLike,
    gammas: ArrayLike,
    *,
    beta: float = 1.0,
    chunk_elements: int = 1 << 21,
) -> np.ndarray:
    """``2 * wins + ties`` over anomalous/normal pairs at every (alpha, gamma) grid point.

    The AUC is this count divided by ``2 * n_anomalous * n_normal``. Shape ``(A, G)``, int64.
    """
    r, y = check_scores_labels(rec, labels, name="rec")
    k, _ = check_scores_labels(kl, labels, name="kl")
    if age is None:
        a = np.zeros_like(r)
        gammas = np.zeros(1)
    else:
        a, _ = check_scores_labels(age, labels, name="age")
    al, ga = _check_grid(alphas, "alphas"), _check_grid(gammas, "gammas")
    if not np.isfinite(beta):
        raise ConfigError(f"beta: expected a finite number, found {beta}")
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    pi, ni = (v.ravel() for v in np.meshgrid(pos, neg, indexing="ij"))
    dr, dk, da = r[pi] - r[ni], k[pi] - k[ni], a[pi] - a[ni]
    n_a, n_g = al.size, ga.size
    exact = ExactPairs.build(r, k, a, pi, ni, al, ga, beta)
    counts = np.zeros((n_a, n_g), dtype=np.int64)
    flat, cross = np.flatnonzero(da == 0), np.flatnonzero(da != 0)
    d_flat, d_cross = (dr[flat], dk[flat]), (dr[cross], dk[cross], da[cross])
    step = max(1, int(chunk_elements) // max(1, pi.size))
    for k0 in range(0, n_a, step):
        ks = np.arange(k0, min(n_a, k0 + step))
        if flat.size:
            counts[ks] += _flat_counts(al[ks], beta, d_flat, ks, flat, exact)[:, None]
        if cross.size:
            counts[ks] += _cross_counts(al[ks], ga, beta, d_cross, ks, cross, exact)
    return counts


def _locate(grid: np.ndarray, x: np.ndarray, *, right: bool) -> np.ndarray:
    """``np.searchsorted(grid, x, side)``; for evenly spaced grids by arithmetic (O(1) each)."""
    side = "right" if right else "left"
    n = grid.size
    if n < 3 or not np.all(np.isfinite(x)):
        return np.searchsorted(grid, x, side=side)
    h = (grid[-1] - grid[0]) / (n - 1)
    if np.any(np.abs(np.diff(grid) - h) > 1e-9 * h):
        return np.searchsorted(grid, x, side=side)
    ext = np.concatenate(([-np.inf], grid, [np.inf]))  # ext[i] = grid[i - 1]
    est = np.clip(np.ceil((x - grid[0]) / h), 0, n).astype(np.int64)
    below = np.less_equal if right else np.less  # ext[i] below x <=> grid[i - 1] counts
    est -= ~below(ext[est], x)
    np.clip(est, 0, n, out=est)
    est += below(ext[est + 1], x)
    if not (np.all(below(ext[est], x)) and not np.any(below(ext[est + 1], x))):
        return np.searchsorted(grid, x, side=side)
    return est


def _flat_counts(
    a: np.ndarray,
    beta: float,
    d: tuple[np.ndarray, ...],
    ks: np.ndarray,
    pairs: np.ndarray,
    exact: ExactPairs,
) -> np.ndarray:
    """Pairs with equal age term: contribution per alpha, constant along gamma.

    ``d = (dr, dk)`` of the pairs ``pairs``; ``ks`` are the indices of the alphas ``a``.
    """
    dr, dk = d
    lin = a[:, None] * dr + beta * dk
    err = _MARGIN * (np.abs(a[:, None] * dr) + abs(beta) * np.abs(dk)) + _TINY
    out = 2 * np.count_nonzero(lin > err, axis=1).astype(np.int64)
    kk, qq = np.nonzero(np.abs(lin) <= err)
    if kk.size:
        signs = exact.signs(ks[kk], pairs[qq], np.zeros(kk.size, dtype=np.int64))
        np.add.at(out, kk, signs + 1)
    return out


def _cross_counts(
    a: np.ndarray,
    ga: np.ndarray,
    beta: float,
    d: tuple[np.ndarray, ...],
    ks: np.ndarray,
    pairs: np.ndarray,
    exact: ExactPairs,
) -> np.ndarray:
    """Pairs whose order flips along gamma: histogram of crossing positions, then cumsum.

    ``d = (dr, dk, da)`` of the pairs ``pairs``; returns counts of shape ``(len(a), len(ga))``.
    """
    n_k, n_g = a.size, ga.size
    dr, dk, da = d
    lin = a[:, None] * dr + beta * dk
    star = -lin / da
    width = _MARGIN * (
        (np.abs(a[:, None] * dr) + abs(beta) * np.abs(dk)) / np.abs(da) + np.abs(star)
    ) + _TINY / np.abs(da)
    lo = _locate(ga, star - width, right=False)
    hi = _locate(ga, star + width, right=True)
    rows = np.arange(n_k)[:, None] * (n_g + 1)
    up = np.broadcast_to(da > 0, lo.shape)
    # da > 0: won for grid index >= hi; da < 0: won for grid index < lo.
    rise = np.bincount((rows + hi)[up], minlength=n_k * (n_g + 1))
    fall = np.bincount((rows + lo)[~up], minlength=n_k * (n_g + 1))
    step = (2 * (rise - fall)).reshape(n_k, n_g + 1)[:, :n_g]
    step[:, 0] += 2 * np.count_nonzero(da < 0)
    out = np.cumsum(step, axis=1)
    kk, qq = np.nonzero(hi > lo)
    if kk.size:
        n_amb = hi[kk, qq] - lo[kk, qq]
        rep_k, rep_q = np.repeat(kk, n_amb), np.repeat(qq, n_amb)
        offsets = np.arange(rep_k.size) - np.repeat(np.cumsum(n_amb) - n_amb, n_amb)
        mm = np.repeat(lo[kk, qq], n_amb) + offsets
        signs = exact.signs(ks[rep_k], pairs[rep_q], mm)
        np.add.at(out, (rep_k, mm), signs + 1)
    return out


def grid_search_combined(
    rec: ArrayLike,
    kl: ArrayLike,
    age: ArrayLike | None,
    labels: ArrayLike,
    *,
    alphas: ArrayLike = PAPER_ALPHAS,
    gammas: ArrayLike = PAPER_GAMMAS,
    beta: float = 1.0,
) -> GridSearchResult:
    """Choose (alpha, gamma) of the combined score by exact AUC over the grid (module docstring).

    ``age`` is the age score ``L_age`` (|predicted - chronological age|) or None for methods
    without an age head, in which case gamma is fixed to 0.
    """
    al = _check_grid(alphas, "alphas")
    ga = np.zeros(1) if age is None else _check_grid(gammas, "gammas")
    counts = pair_count_grid(rec, kl, age, labels, al, ga, beta=beta)
    y = np.asarray(labels).astype(np.float64) == 1
    denom = 2.0 * np.count_nonzero(y) * np.count_nonzero(~y)
    best = int(np.argmax(counts))  # first maximum in row-major order = the tie-break rule
    ia, ig = divmod(best, ga.size)
    return GridSearchResult(
        alpha=float(al[ia]),
        beta=float(beta),
        gamma=float(ga[ig]),
        auc=float(counts[ia, ig] / denom),
        n_optimal=int(np.count_nonzero(counts == counts[ia, ig])),
        alphas=al,
        gammas=ga,
        auc_grid=counts / denom,
    )
