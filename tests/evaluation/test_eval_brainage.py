"""Brain-age evaluation: bias correction, reference rows and the study's warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from eval_helpers import scores_frame
from sklearn.linear_model import LinearRegression
from sklearn.metrics import roc_auc_score

from brainuad.errors import InputFileError
from brainuad.evaluation.brainage import (
    BiasCorrection,
    fit_bias_correction,
    read_age_predictions,
)
from brainuad.evaluation.diagnostics import MIN_VAL_PER_CLASS
from brainuad.evaluation.grid import decimal_grid
from brainuad.evaluation.study import evaluate_methods
from uad_testing import AGE_ATOL_YEARS

FAST = {"n_resamples": 200, "alphas": decimal_grid("0", "2", "0.5"), "gammas": [0.0, 1.0]}


def test_bias_correction_matches_least_squares_and_removes_the_age_trend() -> None:
    rng = np.random.default_rng(0)
    age = rng.uniform(20, 80, 200)
    pred = 0.6 * age + 18 + rng.normal(0, 3, 200)  # regression towards the mean
    corr = fit_bias_correction(pred, age)
    ref = LinearRegression().fit(age[:, None], pred)
    assert corr is not None and corr.n == 200
    assert corr.slope == pytest.approx(ref.coef_[0], rel=1e-9)
    assert corr.intercept == pytest.approx(ref.intercept_, abs=AGE_ATOL_YEARS)
    raw_gap, gap = pred - age, corr.gap(pred, age)
    assert abs(np.corrcoef(age, raw_gap)[0, 1]) > 0.8
    assert abs(np.corrcoef(age, gap)[0, 1]) < 1e-8
    assert BiasCorrection.from_dict(corr.to_dict()) == corr
    assert fit_bias_correction(pred[:4], age[:4]) is None  # too few to fit
    assert fit_bias_correction(np.ones(10), np.full(10, 50.0)) is None  # no age spread


def _with_corrupt_val(frame: pd.DataFrame) -> pd.DataFrame:
    """Flip the validation rec scores so that L_rec ranks anomalies lowest on validation."""
    out = frame.copy()
    val = out["split"] == "val"
    out.loc[val, "rec"] = -out.loc[val, "rec"]
    return out


def test_warnings_fire_on_constructed_disagreement_and_stay_silent_otherwise() -> None:
    n_val = (MIN_VAL_PER_CLASS, MIN_VAL_PER_CLASS)
    clean = scores_frame(3, n_val=n_val, shift=3.0)
    # same ages in both groups: no age confound; big validation split: no size warning
    quiet = evaluate_methods({"m": clean}, **FAST)
    assert [w["kind"] for w in quiet.warnings if w["kind"] != "age_confound"] == []
    bad = evaluate_methods({"m": _with_corrupt_val(clean)}, **FAST)
    kinds = [(w["kind"], w["method"]) for w in bad.warnings]
    assert ("val_test_disagreement", "m") in kinds
    assert any("L_rec: validation AUC" in w["message"] for w in bad.warnings)
    small = evaluate_methods({"m": scores_frame(3, n_val=(12, 6), shift=3.0)}, **FAST)
    assert any(
        w["kind"] == "small_validation" and "12 healthy and 6 anomalous" in w["message"]
        for w in small.warnings
    )


def test_chronological_age_reference_and_age_confound_warning() -> None:
    frame = scores_frame(4, n_val=(40, 40))
    older = frame.copy()
    older.loc[older["label"] == 1, "age"] += 25  # anomalous subjects 25 years older
    study = evaluate_methods({"m": older}, **FAST)
    ref = study.references["chronological_age"]
    test = older[older["split"] == "test"]
    assert ref["auc"]["value"] == pytest.approx(roc_auc_score(test["label"], test["age"]))
    assert ref["mean_age_anomalous"] > ref["mean_age_normal"] + 15
    confound = [w for w in study.warnings if w["kind"] == "age_confound"]
    assert len(confound) == 1 and "older" in confound[0]["message"]
    # without an age score the confound is not worth a warning
    no_age = evaluate_methods({"m": scores_frame(4, n_val=(40, 40), age=False)}, **FAST)
    assert not [w for w in no_age.warnings if w["kind"] == "age_confound"]


def test_reference_brain_age_predictor_rows() -> None:
    frame = scores_frame(5, n_val=(40, 40))
    rng = np.random.default_rng(1)
    ridge = frame[frame["split"].isin(("val", "test"))][["subject_id", "split", "label", "age"]]
    ridge = ridge.assign(age_pred=ridge["age"] + rng.normal(0, 5, len(ridge)) + 8 * ridge["label"])
    table = read_age_predictions("ridge.csv", ridge)
    study = evaluate_methods({"m": frame}, brain_age={"ridge": table}, **FAST)
    entry = study.references["brain_age"]["ridge"]
    t = table[table["split"] == "test"]
    err = np.abs(t["age_pred"] - t["age"]).to_numpy()
    assert entry["mae_n"]["mean"] == pytest.approx(err[t["label"] == 0].mean())
    assert entry["scores"]["age"]["auc"]["value"] == pytest.approx(roc_auc_score(t["label"], err))
    assert "age_bc" in entry["scores"] and entry["bias_correction"]["n"] == 40
    doc = study.to_dict()
    assert doc["references"]["brain_age"]["ridge"]["mae_a"]["n"] == 30
    with pytest.raises(InputFileError, match="ridge.csv: expected brain-age columns"):
        read_age_predictions("ridge.csv", ridge.drop(columns="age_pred"))
    holed = ridge.copy()
    holed.loc[holed.index[0], "age_pred"] = np.nan
    with pytest.raises(InputFileError, match="missing values for"):
        read_age_predictions("ridge.csv", holed)


def _fake_eval(val_auc: float, test_auc: float, n_val: tuple[int, int] = (40, 40)):  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    score = SimpleNamespace(auc=SimpleNamespace(value=test_auc))
    return SimpleNamespace(
        method="m", val_auc={"rec": val_auc}, scores={"rec": score}, n_val=n_val, has_age=False
    )


@pytest.mark.parametrize(
    ("val_auc", "test_auc", "fires"),
    [(0.38, 0.80, True), (0.62, 0.30, True), (0.48, 0.53, False), (0.40, 0.52, False)],
)
def test_disagreement_needs_both_aucs_clear_of_chance(
    val_auc: float, test_auc: float, fires: bool
) -> None:
    from brainuad.evaluation.diagnostics import study_warnings

    out = study_warnings([_fake_eval(val_auc, test_auc)], pd.DataFrame(), {})
    assert [w["kind"] for w in out] == (["val_test_disagreement"] if fires else [])


def test_one_small_validation_warning_for_methods_sharing_a_split() -> None:
    from brainuad.evaluation.diagnostics import study_warnings

    evals = [_fake_eval(0.7, 0.7, (30, 15)), _fake_eval(0.7, 0.7, (30, 15))]
    evals[1].method = "m2"
    out = study_warnings(evals, pd.DataFrame(), {})
    assert len(out) == 1 and "combined weights of m, m2 chosen on 30 healthy" in out[0]["message"]
