"""Brain-age evaluation beyond the paper: bias correction, references, age confounding.

* **Bias-corrected brain-age gap.** Brain-age models regress towards the mean: young subjects
  are predicted older, old subjects younger, so the raw gap ``a_p - a_c`` correlates with age.
  Brain-age studies remove this with a linear correction fitted on healthy subjects (de Lange &
  Cole, NeuroImage: Clinical 2020; Smith et al., NeuroImage 2019): fit ``a_p = slope * a_c +
  intercept`` by least squares on **healthy validation** subjects, then the corrected gap is
  ``a_p - (slope * a_c + intercept)``. Its absolute value is the score ``age_bc``, reported next
  to the paper's ``L_age = |a_p - a_c|`` (which stays the default and the one the combined
  score uses).
* **Chronological age alone** as a reference score: when the anomalous subjects are older than
  the healthy ones (BraTS 60 +/- 13 y against 45 +/- 17 y in the paper; the same in the demo),
  any score that grows with age separates the groups a little without seeing an anomaly. Its
  AUC tells how much of an age-related score's AUC the age imbalance alone could give.
* **Reference brain-age predictors** (e.g. the ridge regression of
  :mod:`brainuad.scoring.ridge_age`): MAE on normal and anomalous test subjects and the AUC of
  their gap, so that VAE-a_p's age head can be judged against what the data holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from brainuad.errors import InputFileError

#: fewest healthy validation subjects the bias correction is fitted on
MIN_BIAS_FIT = 5


@dataclass(frozen=True)
class BiasCorrection:
    """``expected a_p = slope * a_c + intercept``, fitted on ``n`` healthy subjects."""

    slope: float
    intercept: float
    n: int

    def gap(self, age_pred: ArrayLike, age: ArrayLike) -> np.ndarray:
        """Bias-corrected brain-age gap ``a_p - (slope * a_c + intercept)`` in years."""
        a_p = np.asarray(age_pred, dtype=np.float64)
        a_c = np.asarray(age, dtype=np.float64)
        return a_p - (self.slope * a_c + self.intercept)

    def to_dict(self) -> dict[str, float | int | str]:
        """JSON-ready record (with the formula, for readers of ``metrics.json``)."""
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "n": self.n,
            "formula": "gap_bc = age_pred - (slope * age + intercept)",
            "fitted_on": "healthy validation subjects",
        }

    @classmethod
    def from_dict(cls, d: dict) -> BiasCorrection:
        """Inverse of :meth:`to_dict`."""
        return cls(float(d["slope"]), float(d["intercept"]), int(d["n"]))


def fit_bias_correction(age_pred: ArrayLike, age: ArrayLike) -> BiasCorrection | None:
    """Least-squares ``a_p ~ slope * a_c + intercept`` on healthy subjects.

    Returns ``None`` with fewer than :data:`MIN_BIAS_FIT` subjects or no spread in age (the
    slope is then undefined).
    """
    a_p = np.asarray(age_pred, dtype=np.float64)
    a_c = np.asarray(age, dtype=np.float64)
    ok = np.isfinite(a_p) & np.isfinite(a_c)
    a_p, a_c = a_p[ok], a_c[ok]
    if a_c.size < MIN_BIAS_FIT or np.ptp(a_c) == 0:
        return None
    slope, intercept = np.polyfit(a_c, a_p, 1)
    return BiasCorrection(float(slope), float(intercept), int(a_c.size))


def corrected_age_score(frame: pd.DataFrame, correction: BiasCorrection) -> np.ndarray:
    """``|bias-corrected gap|`` of every row of a scores table (``age_pred``, ``age``)."""
    return np.abs(correction.gap(frame["age_pred"], frame["age"]))


def correction_for(frame: pd.DataFrame) -> BiasCorrection | None:
    """The bias correction fitted on the healthy validation rows of a scores table."""
    healthy = frame[(frame["split"] == "val") & (frame["label"] == 0)]
    return fit_bias_correction(healthy["age_pred"], healthy["age"])


def read_age_predictions(path: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a brain-age table (``subject_id, split, label, age, age_pred``) read from
    ``path``; returns the val/test rows with numeric columns."""
    need = ("subject_id", "split", "label", "age", "age_pred")
    missing = [c for c in need if c not in frame]
    if missing:
        raise InputFileError(
            path, f"expected brain-age columns {', '.join(need)}, missing {', '.join(missing)}"
        )
    out = frame[frame["split"].isin(("val", "test"))].copy()
    for col in ("label", "age", "age_pred"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    bad = out[~np.isfinite(out[["label", "age", "age_pred"]].to_numpy(dtype=float)).all(axis=1)]
    if len(bad):
        raise InputFileError(
            path,
            f"expected numeric label, age and age_pred for every val/test subject, found "
            f"missing values for {bad['subject_id'].iloc[0]}",
        )
    out["label"] = out["label"].astype(int)
    return out.reset_index(drop=True)
