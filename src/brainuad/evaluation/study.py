"""The whole-study evaluation: per method, choose the combined weights on val, report on test.

For each method: the combined score's (alpha, gamma) are grid-searched on the ``val`` subjects
(exact AUC, :func:`~brainuad.evaluation.grid.grid_search_combined`; gamma = 0 without an age
score); then on the ``test`` subjects the scores ``rec``, ``kl``, ``age`` (if the method has an
age head) and ``combined`` get AUC, AUPRC and spec100 with BCa intervals (shared stratified
resamples), and the age prediction gets MAE_N / MAE_A (mean and sample SD, ddof = 1, of
``|predicted - chronological age|`` over the normal / anomalous test subjects). The **combined**
score is the method's headline, as in the paper's Table 1. Methods with an age head also get
``age_bc``, the bias-corrected brain-age gap (:mod:`~brainuad.evaluation.brainage`; not part of
the combined score). Every pair of methods is then compared on the combined score over their
common test subjects (paired bootstrap + DeLong). :mod:`~brainuad.evaluation.diagnostics` adds
the reference rows (chronological age alone, reference brain-age predictors) and the warnings
that say when to doubt the results.
Every bootstrap (each method's, each pair's) starts from the same ``seed``, so results are
reproducible and methods scored on the same subjects in the same order share resamples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from brainuad.errors import InputFileError
from brainuad.evaluation.bootstrap import DEFAULT_RESAMPLES, Interval, bootstrap_metrics
from brainuad.evaluation.brainage import BiasCorrection, corrected_age_score, correction_for
from brainuad.evaluation.compare import PairedAUCTest, paired_auc_test
from brainuad.evaluation.diagnostics import reference_rows, study_warnings
from brainuad.evaluation.grid import (
    PAPER_ALPHAS,
    PAPER_GAMMAS,
    GridSearchResult,
    combined_score,
    grid_search_combined,
)
from brainuad.evaluation.metrics import auc
from brainuad.evaluation.scores_table import validate_scores_frame

SCORES = ("rec", "kl", "age", "combined", "age_bc")
HEADLINE = "combined"
SCHEMA = "brainuad-metrics/1"


@dataclass(frozen=True)
class AgeError:
    """Mean and sample SD (ddof = 1; 0 for a single subject) of the absolute age error."""

    mean: float
    sd: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """``{"mean", "sd", "n"}``."""
        return {"mean": self.mean, "sd": self.sd, "n": self.n}


def age_error(abs_errors: ArrayLike) -> AgeError:
    """Summarise absolute age errors (years) as mean +/- SD."""
    e = np.asarray(abs_errors, dtype=np.float64)
    sd = float(np.std(e, ddof=1)) if e.size > 1 else 0.0
    return AgeError(float(e.mean()), sd, int(e.size))


@dataclass(frozen=True)
class ScoreMetrics:
    """AUC, AUPRC and specificity at 100% sensitivity of one score, with intervals."""

    auc: Interval
    auprc: Interval
    spec100: Interval

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{"auc": {...}, "auprc": {...}, "spec100": {...}}``."""
        return {k: getattr(self, k).to_dict() for k in ("auc", "auprc", "spec100")}


@dataclass(frozen=True, eq=False)
class MethodEvaluation:
    """Everything reported for one method (see the module docstring)."""

    method: str
    weights: GridSearchResult
    scores: dict[str, ScoreMetrics]
    mae_n: AgeError | None
    mae_a: AgeError | None
    n_val: tuple[int, int]  # (normal, anomalous)
    n_test: tuple[int, int]
    source: str | None = None
    val_auc: dict[str, float] = field(default_factory=dict)  # per single score, on val
    bias_correction: BiasCorrection | None = None

    @property
    def has_age(self) -> bool:
        """Whether the method predicts age (has the ``age`` score)."""
        return "age" in self.scores

    @property
    def headline(self) -> ScoreMetrics:
        """The metrics of the combined score (the paper's Table 1 row)."""
        return self.scores[HEADLINE]

    def to_dict(self) -> dict[str, object]:
        """The method's entry of ``metrics.json``."""
        return {
            "method": self.method,
            "source": self.source,
            "has_age": self.has_age,
            "headline_score": HEADLINE,
            "n_val": {"normal": self.n_val[0], "anomalous": self.n_val[1]},
            "n_test": {"normal": self.n_test[0], "anomalous": self.n_test[1]},
            "weights": self.weights.to_dict(),
            "scores": {k: v.to_dict() for k, v in self.scores.items()},
            "mae_n": None if self.mae_n is None else self.mae_n.to_dict(),
            "mae_a": None if self.mae_a is None else self.mae_a.to_dict(),
            "val_auc": dict(self.val_auc),
            "bias_correction": (
                None if self.bias_correction is None else self.bias_correction.to_dict()
            ),
        }


def _counts(part: pd.DataFrame) -> tuple[int, int]:
    n_anom = int(part["label"].sum())
    return len(part) - n_anom, n_anom


def _test_scores(
    part: pd.DataFrame, weights: GridSearchResult, correction: BiasCorrection | None = None
) -> dict[str, np.ndarray]:
    age = part["age_score"].to_numpy() if np.isfinite(part["age_score"]).all() else None
    out = {"rec": part["rec"].to_numpy(), "kl": part["kl"].to_numpy()}
    if age is not None:
        out["age"] = age
    out["combined"] = combined_score(
        out["rec"], out["kl"], age, weights.alpha, weights.gamma, weights.beta
    )
    if correction is not None and np.isfinite(part["age_pred"]).all():
        out["age_bc"] = corrected_age_score(part, correction)
    return out


def _val_aucs(val: pd.DataFrame, has_age: bool) -> dict[str, float]:
    """Validation AUC of each single score (for the validation/test disagreement warning)."""
    labels = val["label"].to_numpy()
    if labels.min() == labels.max():
        return {}
    cols = {"rec": "rec", "kl": "kl", **({"age": "age_score"} if has_age else {})}
    return {name: auc(val[col].to_numpy(), labels) for name, col in cols.items()}


def evaluate_method(
    scores: pd.DataFrame,
    *,
    method: str | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
    alphas: ArrayLike = PAPER_ALPHAS,
    gammas: ArrayLike = PAPER_GAMMAS,
    source: str | None = None,
) -> MethodEvaluation:
    """Evaluate one method's scores table (val: weights; test: metrics and MAE).

    ``scores`` is a scores table (raw, or validated by
    :func:`~brainuad.evaluation.scores_table.validate_scores_frame`); ``source`` names its file
    in error messages and in the result.
    """
    frame = validate_scores_frame(scores, source or "<scores>")
    if method is None:
        raw = scores["method"].dropna().unique() if "method" in scores else []
        method = str(raw[0]) if len(raw) == 1 else "method"
    val, test = frame[frame["split"] == "val"], frame[frame["split"] == "test"]
    has_age = bool(np.isfinite(val["age_score"]).all())
    weights = grid_search_combined(
        val["rec"].to_numpy(),
        val["kl"].to_numpy(),
        val["age_score"].to_numpy() if has_age else None,
        val["label"].to_numpy(),
        alphas=alphas,
        gammas=gammas,
    )
    labels = test["label"].to_numpy()
    has_pred = has_age and bool(np.isfinite(frame["age_pred"]).all())
    correction = correction_for(frame) if has_pred else None
    boot = bootstrap_metrics(
        _test_scores(test, weights, correction),
        labels,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    results = {
        name: ScoreMetrics(**metrics)  # type: ignore[arg-type]
        for name, metrics in boot.intervals().items()
    }
    mae_n = mae_a = None
    if has_age:
        err = test["age_score"].to_numpy()
        mae_n, mae_a = age_error(err[labels == 0]), age_error(err[labels == 1])
    return MethodEvaluation(
        method,
        weights,
        results,
        mae_n,
        mae_a,
        _counts(val),
        _counts(test),
        source,
        _val_aucs(val, has_age),
        correction,
    )


@dataclass(frozen=True, eq=False)
class StudyEvaluation:
    """All methods' evaluations, the pairwise tests and the settings (``metrics.json``)."""

    methods: tuple[MethodEvaluation, ...]
    comparisons: tuple[PairedAUCTest, ...]
    settings: dict[str, object]
    skipped: tuple[dict[str, str], ...] = field(default=())
    references: dict[str, object] = field(default_factory=dict)
    warnings: tuple[dict[str, str], ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """The ``metrics.json`` document (schema in :mod:`brainuad.evaluation.report`)."""
        return {
            "schema": SCHEMA,
            "settings": self.settings,
            "methods": [m.to_dict() for m in self.methods],
            "comparisons": [c.to_dict() | {"score": HEADLINE} for c in self.comparisons],
            "skipped_comparisons": list(self.skipped),
            "references": dict(self.references),
            "warnings": list(self.warnings),
        }


def _common_test(
    a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str], source_b: str
) -> tuple[pd.DataFrame, pd.DataFrame] | str:
    ta = a[a["split"] == "test"].set_index("subject_id")
    tb = b[b["split"] == "test"].set_index("subject_id")
    common = ta.index.intersection(tb.index, sort=False)
    ta, tb = ta.loc[common], tb.loc[common]
    if (ta["label"].to_numpy() != tb["label"].to_numpy()).any():
        bad = common[ta["label"].to_numpy() != tb["label"].to_numpy()][:3]
        raise InputFileError(
            source_b,
            f"expected the same labels for {names[1]} as for {names[0]} on common test subjects, "
            f"found different labels for {', '.join(bad)}",
        )
    n_anom = int(ta["label"].sum())
    if n_anom == 0 or n_anom == len(ta):
        return f"common test subjects: {len(ta) - n_anom} normal, {n_anom} anomalous"
    return ta.reset_index(), tb.reset_index()


def evaluate_methods(
    tables: Mapping[str, pd.DataFrame],
    *,
    sources: Mapping[str, str] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
    alphas: ArrayLike = PAPER_ALPHAS,
    gammas: ArrayLike = PAPER_GAMMAS,
    brain_age: Mapping[str, pd.DataFrame] | None = None,
) -> StudyEvaluation:
    """Evaluate every method of ``{name: scores table}`` and test all pairs (module docstring).

    ``brain_age`` maps the names of reference brain-age predictors (e.g. ``ridge``) to their
    tables (``subject_id, split, label, age, age_pred``), evaluated as reference rows.
    """
    sources = dict(sources or {})
    frames = {m: validate_scores_frame(t, sources.get(m, m)) for m, t in tables.items()}
    evals = [
        evaluate_method(
            frames[m],
            method=m,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            alphas=alphas,
            gammas=gammas,
            source=sources.get(m),
        )
        for m in frames
    ]
    comparisons, skipped = [], []
    for ea, eb in combinations(evals, 2):
        names = (ea.method, eb.method)
        source_b = sources.get(names[1], names[1])
        common = _common_test(frames[names[0]], frames[names[1]], names, source_b)
        if isinstance(common, str):
            skipped.append({"method_a": names[0], "method_b": names[1], "reason": common})
            continue
        sa = _test_scores(common[0], ea.weights)[HEADLINE]
        sb = _test_scores(common[1], eb.weights)[HEADLINE]
        comparisons.append(
            paired_auc_test(
                sa,
                sb,
                common[0]["label"].to_numpy(),
                names=names,
                n_resamples=n_resamples,
                confidence=confidence,
                seed=seed,
            )
        )
    al = np.asarray(alphas, dtype=np.float64)
    ga = np.asarray(gammas, dtype=np.float64)
    settings = {
        "n_resamples": int(n_resamples),
        "seed": int(seed),
        "confidence": float(confidence),
        "interval": "BCa",
        "resampling": "stratified by class",
        "headline_score": HEADLINE,
        "beta": 1.0,
        "alpha_grid": {"min": float(al[0]), "max": float(al[-1]), "n": al.size},
        "gamma_grid": {"min": float(ga[0]), "max": float(ga[-1]), "n": ga.size},
        "tie_break": "smallest alpha, then smallest gamma",
        "mae_sd_ddof": 1,
    }
    settings["bias_correction"] = (
        "age_bc = |age_pred - (slope * age + intercept)|, fitted on healthy validation subjects"
    )
    first = next(iter(frames.values()))
    boot_args = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}
    references = reference_rows(first, dict(brain_age or {}), **boot_args)
    warnings = study_warnings(evals, first, references)
    return StudyEvaluation(
        tuple(evals), tuple(comparisons), settings, tuple(skipped), references, tuple(warnings)
    )
