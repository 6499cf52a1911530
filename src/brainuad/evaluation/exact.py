"""Exact sign of a combined-score difference, for the rare pairs near a grid crossing.

Used by :mod:`brainuad.evaluation.grid` where floating point cannot decide whether an anomalous
subject p scores above, level with or below a normal subject n at a grid point
``(alpha, gamma)``: the sign of ``alpha * dr + beta * dk + gamma * da`` is computed with Python
integers. Every float64 score is ``m / 2^e`` exactly, so all scores are written over one common
power-of-two denominator; every weight is a fraction (see :func:`as_fraction`). Multiplying out
the (positive) denominators leaves an integer expression whose sign is the answer.

The work is vectorised with NumPy object arrays (arbitrary-precision integers), about a
microsecond per (alpha, pair, gamma) triple; on real-valued scores only a handful of triples,
mostly ties at ``alpha = 0`` or ``gamma = 0``, ever get here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

_MAX_DENOMINATOR = 10**6


def as_fraction(x: float) -> Fraction:
    """The decimal a float grid value stands for: the simplest fraction with denominator at most
    10^6 within four ulps of ``x`` (``0.001`` -> 1/1000), else the float's exact value."""
    x = float(x)
    f = Fraction(x).limit_denominator(_MAX_DENOMINATOR)
    if abs(float(f) - x) <= 4.0 * float(np.spacing(abs(x))):
        return f
    return Fraction(x)


def _fraction_parts(
    values: np.ndarray, idx: np.ndarray, cache: dict[int, Fraction]
) -> tuple[np.ndarray, np.ndarray]:
    """Numerators and denominators (object arrays) of ``values[idx]``, converted once each."""
    uniq, inverse = np.unique(idx, return_inverse=True)
    num = np.empty(uniq.size, dtype=object)
    den = np.empty(uniq.size, dtype=object)
    for j, i in enumerate(uniq.tolist()):
        if i not in cache:
            cache[i] = as_fraction(values[i])
        num[j], den[j] = cache[i].numerator, cache[i].denominator
    return num[inverse], den[inverse]


def _common_integers(columns: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Integers ``N`` with ``column = N / 2^E`` exactly, one ``E`` for all columns."""
    ratios = [[float(v).as_integer_ratio() for v in col] for col in columns]
    shift = max(d.bit_length() - 1 for col in ratios for _, d in col)
    out = []
    for col in ratios:
        ints = np.empty(len(col), dtype=object)
        ints[:] = [n << (shift - (d.bit_length() - 1)) for n, d in col]
        out.append(ints)
    return tuple(out)


@dataclass(frozen=True, eq=False)
class ExactPairs:
    """Integer forms of the scores, the pairs and the grids, for :meth:`signs`."""

    rec: np.ndarray
    kl: np.ndarray
    age: np.ndarray
    pos: np.ndarray  # anomalous subject of each pair
    neg: np.ndarray  # normal subject of each pair
    alphas: np.ndarray
    gammas: np.ndarray
    beta: Fraction
    _cache: tuple[dict[int, Fraction], dict[int, Fraction]] = field(
        default_factory=lambda: ({}, {}), repr=False
    )

    @classmethod
    def build(
        cls,
        rec: np.ndarray,
        kl: np.ndarray,
        age: np.ndarray,
        pos: np.ndarray,
        neg: np.ndarray,
        alphas: np.ndarray,
        gammas: np.ndarray,
        beta: float,
    ) -> ExactPairs:
        """Convert float64 scores and grids (both exact as described in the module docstring)."""
        r, k, a = _common_integers((rec, kl, age))
        return cls(r, k, a, pos, neg, alphas, gammas, as_fraction(beta))

    def signs(
        self, alpha_idx: np.ndarray, pair_idx: np.ndarray, gamma_idx: np.ndarray
    ) -> np.ndarray:
        """Sign (-1, 0, 1) of ``alpha dr + beta dk + gamma da`` for each triple of indices."""
        if alpha_idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        p, n = self.pos[pair_idx], self.neg[pair_idx]
        dr = self.rec[p] - self.rec[n]
        dk = self.kl[p] - self.kl[n]
        da = self.age[p] - self.age[n]
        an, ad = _fraction_parts(self.alphas, alpha_idx, self._cache[0])
        gn, gd = _fraction_parts(self.gammas, gamma_idx, self._cache[1])
        bn, bd = self.beta.numerator, self.beta.denominator
        total = an * gd * bd * dr + ad * gd * bn * dk + ad * bd * gn * da
        return (total > 0).astype(np.int64) - (total < 0).astype(np.int64)
