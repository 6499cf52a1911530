"""When to doubt a study's results: reference rows and warnings for ``metrics.json``.

* :func:`reference_rows`: the AUC of **chronological age alone** on the test split (what an age
  imbalance between the groups gives any age-related score for free), and the evaluation of
  reference **brain-age predictors** (e.g. the ridge regression on the voxels): MAE on normal /
  anomalous test subjects, AUC of the raw and bias-corrected gap.
* :func:`study_warnings`: a score whose validation AUC lies on the other side of 0.5 from its
  test AUC, each at least :data:`DISAGREEMENT_MARGIN` away from 0.5 (the weights chosen on
  validation then rest on a split that disagrees with the test split; two AUCs that both hover
  around 0.5 only say the score is uninformative); combined weights chosen on fewer than
  :data:`MIN_VAL_PER_CLASS` validation subjects of a class (one warning for all the methods
  that share the split); and the age confound of ``L_age`` when the anomalous subjects are
  older or younger than the healthy ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainuad.evaluation.bootstrap import bootstrap_metrics
from brainuad.evaluation.brainage import corrected_age_score, correction_for

if TYPE_CHECKING:
    from brainuad.evaluation.study import MethodEvaluation

#: fewer validation subjects than this per class make the combined weights doubtful
MIN_VAL_PER_CLASS = 30
#: how far from 0.5 a validation and a test AUC must both be to count as disagreeing
DISAGREEMENT_MARGIN = 0.05
#: |AUC(chronological age) - 0.5| beyond which L_age is flagged as confounded by age
AGE_CONFOUND_MARGIN = 0.1
SCORE_NAMES = {"rec": "L_rec", "kl": "L_KL", "age": "L_age"}


def _mae(errors: np.ndarray) -> dict[str, float | int]:
    sd = float(np.std(errors, ddof=1)) if errors.size > 1 else 0.0
    return {"mean": float(errors.mean()), "sd": sd, "n": int(errors.size)}


def _intervals(scores: dict[str, np.ndarray], labels: np.ndarray, **boot: Any) -> dict:
    boot_res = bootstrap_metrics(scores, labels, **boot)
    return {
        name: {metric: iv.to_dict() for metric, iv in metrics.items()}
        for name, metrics in boot_res.intervals().items()
    }


def reference_rows(
    frame: pd.DataFrame, brain_age: dict[str, pd.DataFrame], **boot: Any
) -> dict[str, Any]:
    """Reference rows of ``metrics.json`` (see the module docstring).

    ``frame`` is any method's validated scores table (for the test subjects' ages and labels);
    ``brain_age`` maps reference predictors to tables with ``age_pred``; ``boot`` holds the
    bootstrap settings (``n_resamples``, ``seed``, ``confidence``).
    """
    out: dict[str, Any] = {}
    test = frame[frame["split"] == "test"]
    ages, labels = test["age"].to_numpy(dtype=np.float64), test["label"].to_numpy()
    if np.isfinite(ages).all() and len(ages):
        row = _intervals({"age": ages}, labels, **boot)["age"]
        row["mean_age_normal"] = float(ages[labels == 0].mean())
        row["mean_age_anomalous"] = float(ages[labels == 1].mean())
        out["chronological_age"] = row
    predictors = {}
    for name, table in brain_age.items():
        t = table[table["split"] == "test"]
        y = t["label"].to_numpy()
        err = np.abs(t["age_pred"].to_numpy(float) - t["age"].to_numpy(float))
        entry: dict[str, Any] = {"mae_n": _mae(err[y == 0]), "mae_a": _mae(err[y == 1])}
        scores = {"age": err}
        correction = correction_for(table)
        if correction is not None:
            scores["age_bc"] = corrected_age_score(t, correction)
            entry["bias_correction"] = correction.to_dict()
        entry["scores"] = _intervals(scores, y, **boot)
        predictors[name] = entry
    if predictors:
        out["brain_age"] = predictors
    return out


def _warning(kind: str, message: str, method: str | None = None) -> dict[str, str]:
    return {"kind": kind, "method": method or "", "message": message}


def study_warnings(
    evals: list[MethodEvaluation], frame: pd.DataFrame, references: dict[str, Any]
) -> list[dict[str, str]]:
    """The warnings of a study (module docstring); empty when nothing calls for doubt."""
    out = []
    small: dict[tuple[int, int], list[str]] = {}
    for ev in evals:
        for score, val_auc in ev.val_auc.items():
            test_auc = ev.scores[score].auc.value if score in ev.scores else None
            if test_auc is None or (val_auc - 0.5) * (test_auc - 0.5) >= 0:
                continue
            if min(abs(val_auc - 0.5), abs(test_auc - 0.5)) < DISAGREEMENT_MARGIN:
                continue
            out.append(
                _warning(
                    "val_test_disagreement",
                    f"{SCORE_NAMES[score]}: validation AUC {val_auc:.2f} but test AUC "
                    f"{test_auc:.2f} (opposite sides of 0.5): the validation split disagrees "
                    "with the test split, so weights chosen on it may not transfer",
                    ev.method,
                )
            )
        if min(ev.n_val) < MIN_VAL_PER_CLASS:
            small.setdefault(ev.n_val, []).append(ev.method)
    for (normal, anomalous), methods in small.items():
        out.append(
            _warning(
                "small_validation",
                f"combined weights of {', '.join(methods)} chosen on {normal} healthy and "
                f"{anomalous} anomalous validation subjects (fewer than {MIN_VAL_PER_CLASS} per "
                "class): they may fit the validation split rather than the task",
                methods[0] if len(methods) == 1 else "",
            )
        )
    age = references.get("chronological_age")
    if age is not None and any(ev.has_age for ev in evals):
        auc = float(age["auc"]["value"])
        if abs(auc - 0.5) > AGE_CONFOUND_MARGIN:
            older = "older" if age["mean_age_anomalous"] > age["mean_age_normal"] else "younger"
            out.append(
                _warning(
                    "age_confound",
                    f"the anomalous test subjects are {older} than the healthy ones (mean "
                    f"{age['mean_age_anomalous']:.1f} vs {age['mean_age_normal']:.1f} years): "
                    f"chronological age alone has a test AUC of {auc:.2f}, so L_age = "
                    "|a_p - a_c| is partly confounded by age (a head that regresses towards the "
                    "training mean errs more on subjects far from it); the bias-corrected gap "
                    "(age_bc) removes the linear part of this",
                )
            )
    return out
