"""The healthy-vs-anomalous preprocessing check (paths taken, QC classifier)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from brainuad.preprocessing.comparability import QC_FEATURES, check_comparability


def _table(n_h: int, n_a: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_h + n_a
    label = np.r_[np.zeros(n_h, int), np.ones(n_a, int)]
    table = pd.DataFrame(
        {
            "subject_id": [f"s{i}" for i in range(n)],
            "label": label,
            "skull_strip_path": ["deepbet"] * n,
            "input_skull_stripped": [False] * n,
            "brain_volume_ml": rng.normal(1300, 120, n) + shift * 120 * label,
            "reg_similarity": rng.normal(0.8, 0.03, n),
            "reg_mask_dice": rng.normal(0.9, 0.02, n),
            "reg_volume_ratio": rng.normal(1.0, 0.05, n),
            "crop_brain_fraction": np.ones(n),  # constant: left out of the classifier
            "p01": rng.normal(0.05, 0.01, n),
            "p50": rng.normal(0.6, 0.03, n),
            "p99": rng.normal(0.97, 0.01, n),
        }
    )
    return table


def _reference_auc(table: pd.DataFrame, features: list[str], seed: int) -> float:
    y = table["label"].to_numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    prob = cross_val_predict(model, table[features].to_numpy(), y, cv=folds, method="predict_proba")
    return float(roc_auc_score(y, prob[:, 1]))


def test_alike_groups_raise_no_warning() -> None:
    table = _table(40, 20)
    check = check_comparability(table, seed=3)
    assert check.warnings == ()
    assert check.n_healthy == 40 and check.n_anomalous == 20
    assert check.paths == {"healthy": {"deepbet": 40}, "anomalous": {"deepbet": 20}}
    assert check.inputs["anomalous"] == {"with skull": 20}
    assert "crop_brain_fraction" not in check.features and "brain_volume_ml" in check.features
    reference = _reference_auc(table, list(check.features), seed=3)
    assert check.cv_auc == pytest.approx(reference, abs=1e-4)
    assert check.cv_auc < 0.8
    single = roc_auc_score(table["label"], table["p50"])
    assert check.feature_auc["p50"] == pytest.approx(max(single, 1 - single), abs=1e-4)
    assert json.loads(json.dumps(check.to_dict()))["schema"] == "brainuad-comparability/1"


def test_different_paths_warn() -> None:
    table = _table(40, 20)
    table.loc[table["label"] == 1, "skull_strip_path"] = "none"
    table.loc[table["label"] == 1, "input_skull_stripped"] = True
    check = check_comparability(table)
    assert len(check.warnings) == 1
    text = check.warnings[0]
    assert text.startswith("healthy and anomalous scans took different skull-stripping paths")
    assert "healthy: deepbet 40 [deepbet CNN on a head with skull]" in text
    assert "anomalous: none 20 [mask taken from the already skull-stripped image]" in text
    assert check.summary_lines() == [f"WARNING: {text}"]


def test_different_inputs_on_one_path_warn() -> None:
    table = _table(40, 20)
    table["input_skull_stripped"] = np.where(table["label"] == 1, "True", "False")  # from CSV
    check = check_comparability(table)
    assert len(check.warnings) == 1
    assert (
        "inputs differ (healthy: with skull 40; anomalous: skull-stripped 20)" in check.warnings[0]
    )
    # a few mixed inputs (under 10 percentage points apart) are no reason to warn
    table = _table(40, 20)
    table.loc[[0, 1], "input_skull_stripped"] = True
    assert check_comparability(table).warnings == ()


def test_separable_qc_measures_warn() -> None:
    table = _table(40, 20, shift=6.0)  # anomalous brains 6 SD larger: separable by volume
    check = check_comparability(table)
    assert check.cv_auc is not None and check.cv_auc > 0.95
    assert check.cv_auc == pytest.approx(_reference_auc(table, list(check.features), 0), abs=1e-4)
    assert len(check.warnings) == 1 and "QC measures alone separate" in check.warnings[0]
    assert "strongest single measure brain_volume_ml" in check.warnings[0]


def test_classifier_skipped_without_enough_subjects_or_measures() -> None:
    check = check_comparability(_table(10, 3))
    assert check.cv_auc is None and "at least 5 healthy and 5 anomalous" in check.classifier_note
    bare = _table(10, 10).drop(columns=list(QC_FEATURES))
    check = check_comparability(bare)
    assert check.cv_auc is None and "no QC measure" in check.classifier_note
    old = _table(10, 10).drop(columns=["skull_strip_path", "input_skull_stripped"])
    check = check_comparability(old)  # a cache from before the paths were recorded
    assert check.paths["healthy"] == {"unknown": 10} and check.warnings == ()
