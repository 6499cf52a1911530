"""Were the healthy and the anomalous scans preprocessed alike? (:func:`check_comparability`).

A study that mixes cohorts (healthy IXI heads with skull, BraTS tumours already skull-stripped
and resampled to an atlas) can score a near-perfect AUC by telling the preprocessing apart
instead of the anatomy. After every preprocessing run the cache's subjects table is checked:

* **paths**: which skull-stripping path each group took (``skull_strip_path``: ``deepbet``,
  ``none`` = mask from the already stripped image, ``mask`` = the manifest's mask) and what the
  inputs were (``input_skull_stripped``). A warning when the share of any path or input state
  differs by more than 10 percentage points between the groups.
* **QC classifier**: a cross-validated logistic regression (standardised features, L2, 5
  stratified folds) predicting the label from QC measures only — brain volume, registration
  similarity, mask overlap and volume ratio, the brain fraction kept by the crop and the intensity
  percentiles of the model-ready volume. A warning when its AUC exceeds 0.95: such measures
  should not separate the groups almost perfectly.

The result is written as JSON beside the cache (``comparability-<token>.json``, schema
``brainuad-comparability/1``, named in ``cache.json["extra_files"]["comparability"]``); the
report and the ``brainuad preprocess``/``run`` summaries show its warnings.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

SCHEMA = "brainuad-comparability/1"
QC_FEATURES = (
    "brain_volume_ml",
    "reg_similarity",
    "reg_mask_dice",
    "reg_volume_ratio",
    "crop_brain_fraction",
    "p01",
    "p50",
    "p99",
)
SEPARATION_AUC = 0.95
SHARE_GAP = 0.10
MIN_PER_GROUP = 5
MAX_FOLDS = 5
GROUPS = ("healthy", "anomalous")
PATH_MEANING = {
    "deepbet": "deepbet CNN on a head with skull",
    "none": "mask taken from the already skull-stripped image",
    "mask": "brain mask from the manifest",
    "unknown": "not recorded",
}


@dataclass(frozen=True)
class ComparabilityCheck:
    """Outcome of :func:`check_comparability` (JSON: :meth:`to_dict`).

    ``paths`` and ``inputs`` count, per group (``healthy``, ``anomalous``), the skull-stripping
    path taken and the input state (``with skull`` / ``skull-stripped``). ``cv_auc`` is the
    cross-validated AUC of the QC classifier (None when skipped; ``classifier_note`` says why),
    ``feature_auc`` the AUC of each QC measure alone (direction-free: max(AUC, 1 - AUC)).
    """

    n_healthy: int
    n_anomalous: int
    paths: dict[str, dict[str, int]]
    inputs: dict[str, dict[str, int]]
    features: tuple[str, ...]
    cv_auc: float | None
    feature_auc: dict[str, float]
    classifier_note: str
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (schema ``brainuad-comparability/1``)."""
        d = asdict(self)
        d["features"] = list(self.features)
        d["warnings"] = list(self.warnings)
        return {"schema": SCHEMA, **d}

    def summary_lines(self) -> list[str]:
        """Lines for a console summary: one per warning (nothing when all is well)."""
        return [f"WARNING: {w}" for w in self.warnings]


def check_comparability(table: pd.DataFrame, *, seed: int = 0) -> ComparabilityCheck:
    """Check a cache subjects table (``label`` + QC columns) for preprocessing differences.

    ``seed`` fixes the cross-validation folds (no global random state is used).
    """
    labels = pd.to_numeric(table["label"], errors="coerce").fillna(0).astype(int).to_numpy()
    groups = {"healthy": labels == 0, "anomalous": labels == 1}
    n = {g: int(m.sum()) for g, m in groups.items()}
    path_col = _text(table, "skull_strip_path")
    input_col = np.array(
        [
            "unknown" if v is None else ("skull-stripped" if v else "with skull")
            for v in _flags(table)
        ]
    )
    paths = {g: _counts(path_col[m]) for g, m in groups.items()}
    inputs = {g: _counts(input_col[m]) for g, m in groups.items()}
    warnings: list[str] = []
    if n["healthy"] and n["anomalous"]:
        if _differ(paths, n):
            warnings.append(
                "healthy and anomalous scans took different skull-stripping paths "
                f"({_describe(paths, with_meaning=True)}): a detector can learn the "
                "preprocessing instead of the anatomy; compare the brain masks of both groups "
                "(example slices, `brainuad preprocess --qc` montage) and the QC classifier."
            )
        elif _differ(inputs, n):
            warnings.append(
                f"healthy and anomalous inputs differ ({_describe(inputs)}) although they took "
                "the same skull-stripping path: check that the brain masks of both groups look "
                "alike (example slices, `brainuad preprocess --qc` montage)."
            )
    features, cv_auc, feature_auc, note = _classifier(table, labels, n, seed)
    if cv_auc is not None and cv_auc > SEPARATION_AUC:
        best = max(feature_auc, key=feature_auc.get) if feature_auc else None  # type: ignore[arg-type]
        strongest = (
            f"; strongest single measure {best}, AUC {feature_auc[best]:.2f}" if best else ""
        )
        warnings.append(
            "QC measures alone separate healthy from anomalous scans almost perfectly "
            f"(logistic regression on {', '.join(features)}: cross-validated AUC "
            f"{cv_auc:.2f} > {SEPARATION_AUC}{strongest}): the study may measure preprocessing "
            "or acquisition differences rather than anatomy."
        )
    return ComparabilityCheck(
        n_healthy=n["healthy"],
        n_anomalous=n["anomalous"],
        paths=paths,
        inputs=inputs,
        features=tuple(features),
        cv_auc=cv_auc,
        feature_auc=feature_auc,
        classifier_note=note,
        warnings=tuple(warnings),
    )


def _text(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table:
        return np.full(len(table), "unknown", dtype=object)
    values = table[column].astype(object).where(table[column].notna(), "unknown")
    return np.array([str(v) if str(v) else "unknown" for v in values], dtype=object)


def _flags(table: pd.DataFrame) -> list[bool | None]:
    if "input_skull_stripped" not in table:
        return [None] * len(table)
    out: list[bool | None] = []
    for v in table["input_skull_stripped"]:
        text = str(v).strip().lower()
        out.append(
            True
            if text in ("true", "1", "1.0")
            else False
            if text in ("false", "0", "0.0")
            else None
        )
    return out


def _counts(values: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(values.astype(str), return_counts=True)
    return {str(k): int(c) for k, c in zip(names, counts, strict=True)}


def _differ(counts: dict[str, dict[str, int]], n: dict[str, int]) -> bool:
    keys = set(counts["healthy"]) | set(counts["anomalous"])
    return any(
        abs(
            counts["healthy"].get(k, 0) / n["healthy"]
            - counts["anomalous"].get(k, 0) / n["anomalous"]
        )
        > SHARE_GAP
        for k in keys
    )


def _describe(counts: dict[str, dict[str, int]], *, with_meaning: bool = False) -> str:
    parts = []
    for group in GROUPS:
        items = ", ".join(
            f"{k} {v}" + (f" [{PATH_MEANING.get(k, k)}]" if with_meaning else "")
            for k, v in sorted(counts[group].items(), key=lambda kv: -kv[1])
        )
        parts.append(f"{group}: {items}")
    return "; ".join(parts)


def _classifier(
    table: pd.DataFrame, labels: np.ndarray, n: dict[str, int], seed: int
) -> tuple[list[str], float | None, dict[str, float], str]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = []
    for name in QC_FEATURES:
        if name not in table:
            continue
        x = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)
        if np.isfinite(x).all() and np.ptp(x) > 0:
            features.append(name)
    if min(n.values()) < MIN_PER_GROUP:
        return (
            features,
            None,
            {},
            (
                f"skipped: needs at least {MIN_PER_GROUP} healthy and {MIN_PER_GROUP} anomalous "
                f"scans, found {n['healthy']} and {n['anomalous']}"
            ),
        )
    if not features:
        return features, None, {}, "skipped: no QC measure with finite, varying values"
    x = table[features].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    feature_auc = {}
    for j, name in enumerate(features):
        auc = float(roc_auc_score(labels, x[:, j]))
        feature_auc[name] = round(max(auc, 1.0 - auc), 4)
    folds = StratifiedKFold(min(MAX_FOLDS, min(n.values())), shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    prob = cross_val_predict(model, x, labels, cv=folds, method="predict_proba")[:, 1]
    cv_auc = float(roc_auc_score(labels, prob))
    note = f"{folds.get_n_splits()}-fold cross-validated logistic regression"
    return features, round(cv_auc, 4) if math.isfinite(cv_auc) else None, feature_auc, note
