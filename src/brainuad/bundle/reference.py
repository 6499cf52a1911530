"""Healthy reference distributions, percentiles, combined weights and operating points.

Definitions (all on the **validation** subjects of the study the bundle was exported from):

* **Reference**: the scores ``rec`` (L_rec), ``kl`` (L_KL), ``age`` (L_age = ``|a_p - a_c|``,
  VAE-a_p only) and ``combined`` of the *healthy* validation subjects (``reference.csv``).
* **Percentile** of a scan's score: ``100 * #{reference scores <= score} / n``, i.e. the share of
  healthy reference subjects scoring *at most* as high (a tie counts as below-or-equal, so a
  scan equal to the highest reference score is at the 100th percentile, one below every
  reference score at the 0th).
* **Combined score** (paper eq. 3): ``alpha * rec + beta * kl + gamma * age`` with the weights
  chosen on validation by the study's grid search.
* **Operating points**: a scan is *flagged* when ``combined >= threshold``.

  - ``sens100`` (100% validation sensitivity): ``threshold = min`` combined score over the
    anomalous validation subjects, so every one of them is flagged (the paper's
    Specificity(100%) operating point).
  - ``spec95`` (95% validation specificity): with the healthy validation scores sorted,
    ``h_1 <= ... <= h_n`` and ``k = ceil(0.95 n)``, ``threshold`` is the smallest float above
    ``h_k`` (``nextafter(h_k, +inf)``): the smallest threshold that leaves at least 95% of the
    healthy validation subjects unflagged (strictly below it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from brainuad.evaluation.grid import combined_score

SCORE_NAMES = ("rec", "kl", "age", "combined")
#: column of ``reference.csv`` holding each score
REFERENCE_COLUMNS = {"rec": "rec", "kl": "kl", "age": "age_abs_error", "combined": "combined"}
SPECIFICITY_TARGET = 0.95
SENS100_DEFINITION = (
    "flag when combined >= threshold; threshold = lowest combined score of the anomalous "
    "validation subjects (all of them flagged: 100% validation sensitivity)"
)
SPEC95_DEFINITION = (
    "flag when combined >= threshold; threshold = nextafter(h_k, +inf) with h_k the "
    "ceil(0.95 n)-th smallest combined score of the n healthy validation subjects (at least 95% "
    "of them unflagged)"
)


@dataclass(frozen=True)
class CombinedWeights:
    """Weights of the combined score ``alpha * rec + beta * kl + gamma * age`` (paper eq. 3)."""

    alpha: float
    beta: float
    gamma: float

    def needs(self) -> tuple[str, ...]:
        """The scores with a non-zero weight (the combined score needs each of them)."""
        pairs = (("rec", self.alpha), ("kl", self.beta), ("age", self.gamma))
        return tuple(name for name, w in pairs if w != 0)

    def combine(self, rec: ArrayLike, kl: ArrayLike, age: ArrayLike | None) -> np.ndarray:
        """The combined score (``age`` may be None only when ``gamma`` is 0)."""
        return combined_score(rec, kl, age, self.alpha, self.gamma, self.beta)

    def to_dict(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> CombinedWeights:
        return cls(float(d["alpha"]), float(d["beta"]), float(d["gamma"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold on the combined score and how it performed where it was set."""

    name: str
    threshold: float
    definition: str
    val_sensitivity: float
    val_specificity: float
    test_sensitivity: float | None = None
    test_specificity: float | None = None

    def flags(self, combined: float) -> bool:
        """True when ``combined >= threshold``."""
        return bool(combined >= self.threshold)

    def to_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "definition": self.definition,
            "val_sensitivity": self.val_sensitivity,
            "val_specificity": self.val_specificity,
            "test_sensitivity": self.test_sensitivity,
            "test_specificity": self.test_specificity,
        }

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, object]) -> OperatingPoint:
        def opt(key: str) -> float | None:
            value = d.get(key)
            return None if value is None else float(value)  # type: ignore[arg-type]

        return cls(
            name=name,
            threshold=float(d["threshold"]),  # type: ignore[arg-type]
            definition=str(d.get("definition", "")),
            val_sensitivity=float(d["val_sensitivity"]),  # type: ignore[arg-type]
            val_specificity=float(d["val_specificity"]),  # type: ignore[arg-type]
            test_sensitivity=opt("test_sensitivity"),
            test_specificity=opt("test_specificity"),
        )


def sens100_threshold(combined: ArrayLike, labels: ArrayLike) -> float:
    """Lowest combined score of the anomalous subjects (label 1)."""
    s, y = np.asarray(combined, dtype=np.float64), np.asarray(labels).astype(bool)
    if not y.any():
        raise ValueError("sens100_threshold: no anomalous subject to set the threshold on")
    return float(s[y].min())


def specificity_threshold(healthy: ArrayLike, specificity: float = SPECIFICITY_TARGET) -> float:
    """Smallest threshold leaving at least ``specificity`` of ``healthy`` strictly below it."""
    h = np.sort(np.asarray(healthy, dtype=np.float64))
    if h.size == 0:
        raise ValueError("specificity_threshold: no healthy subject to set the threshold on")
    k = max(1, math.ceil(specificity * h.size - 1e-9))
    return float(np.nextafter(h[k - 1], np.inf))


def _rates(threshold: float, scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    flagged = scores >= threshold
    sens = float(flagged[labels].mean()) if labels.any() else float("nan")
    spec = float((~flagged[~labels]).mean()) if (~labels).any() else float("nan")
    return sens, spec


def operating_points(
    val_combined: ArrayLike,
    val_labels: ArrayLike,
    test_combined: ArrayLike | None = None,
    test_labels: ArrayLike | None = None,
) -> tuple[OperatingPoint, OperatingPoint]:
    """The ``sens100`` and ``spec95`` points set on validation (module docstring), with rates."""
    vs = np.asarray(val_combined, dtype=np.float64)
    vy = np.asarray(val_labels).astype(bool)
    points = []
    for name, threshold, definition in (
        ("sens100", sens100_threshold(vs, vy), SENS100_DEFINITION),
        ("spec95", specificity_threshold(vs[~vy]), SPEC95_DEFINITION),
    ):
        v_sens, v_spec = _rates(threshold, vs, vy)
        t_sens = t_spec = None
        if test_combined is not None and test_labels is not None and len(test_combined):
            ts = np.asarray(test_combined, dtype=np.float64)
            ty = np.asarray(test_labels).astype(bool)
            t_sens, t_spec = _rates(threshold, ts, ty)
        points.append(OperatingPoint(name, threshold, definition, v_sens, v_spec, t_sens, t_spec))
    return points[0], points[1]


@dataclass(frozen=True, eq=False)
class Reference:
    """Scores of the healthy reference subjects (``reference.csv``), one sorted array per score.

    A score the model does not produce (``age`` without an age head) has no array.
    """

    table: pd.DataFrame
    sorted_scores: dict[str, np.ndarray]

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> Reference:
        arrays: dict[str, np.ndarray] = {}
        for name, col in REFERENCE_COLUMNS.items():
            if col not in table:
                continue
            values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
            if np.isfinite(values).all() and values.size:
                arrays[name] = np.sort(values)
        return cls(table.reset_index(drop=True), arrays)

    def __len__(self) -> int:
        return len(self.table)

    def percentile(self, name: str, value: float | None) -> float | None:
        """Percentile (0-100) of ``value`` among the reference ``name`` scores (docstring)."""
        ref = self.sorted_scores.get(name)
        if ref is None or value is None or not math.isfinite(value):
            return None
        return 100.0 * float(np.searchsorted(ref, value, side="right")) / ref.size

    def summary(self) -> dict[str, dict[str, float]]:
        """Per score: n, mean, sd, min, 5th/50th/95th percentiles, max (for ``bundle.json``)."""
        out = {}
        for name, ref in self.sorted_scores.items():
            p05, p50, p95 = np.percentile(ref, (5, 50, 95))
            out[name] = {
                "n": int(ref.size),
                "mean": float(ref.mean()),
                "sd": float(ref.std(ddof=1)) if ref.size > 1 else 0.0,
                "min": float(ref[0]),
                "p05": float(p05),
                "p50": float(p50),
                "p95": float(p95),
                "max": float(ref[-1]),
            }
        return out


def reference_table(
    subject_ids: Sequence[str],
    ages: ArrayLike,
    rec: ArrayLike,
    kl: ArrayLike,
    age_pred: ArrayLike | None,
    weights: CombinedWeights,
) -> pd.DataFrame:
    """The ``reference.csv`` table of healthy subjects (``age_abs_error`` empty without a head)."""
    ages = np.asarray(ages, dtype=np.float64)
    n = ages.size
    pred = np.full(n, np.nan) if age_pred is None else np.asarray(age_pred, dtype=np.float64)
    err = np.abs(pred - ages)
    has_age = age_pred is not None
    return pd.DataFrame(
        {
            "subject_id": [str(s) for s in subject_ids],
            "age": ages,
            "rec": np.asarray(rec, dtype=np.float64),
            "kl": np.asarray(kl, dtype=np.float64),
            "age_pred": pred,
            "age_abs_error": err,
            "combined": weights.combine(rec, kl, err if has_age else None),
        }
    )
