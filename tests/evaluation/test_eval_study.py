"""Scores-table validation and the whole-study evaluation (weights on val, metrics on test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eval_helpers import scores_frame

from brainuad.errors import InputFileError
from brainuad.evaluation.grid import combined_score, decimal_grid, grid_search_combined
from brainuad.evaluation.metrics import detection_metrics
from brainuad.evaluation.scores_table import read_scores
from brainuad.evaluation.study import evaluate_method, evaluate_methods

ALPHAS = decimal_grid("0", "2", "0.1")
GAMMAS = decimal_grid("0", "20", "0.5")


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "scores.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_evaluate_method_uses_val_for_weights_and_test_for_metrics() -> None:
    frame = scores_frame(0)
    ev = evaluate_method(frame, n_resamples=300, seed=1, alphas=ALPHAS * 1000, gammas=GAMMAS)
    val = frame[frame.split == "val"]
    test = frame[frame.split == "test"]
    ref = grid_search_combined(
        val.rec, val.kl, val.age_abs_error, val.label, alphas=ALPHAS * 1000, gammas=GAMMAS
    )
    assert (ev.weights.alpha, ev.weights.gamma, ev.weights.auc) == (ref.alpha, ref.gamma, ref.auc)
    assert (
        ev.method == "VAE-a_p"
        and ev.has_age
        and set(ev.scores) == {"rec", "kl", "age", "combined", "age_bc"}
    )
    comb = combined_score(test.rec, test.kl, test.age_abs_error, ref.alpha, ref.gamma)
    want = detection_metrics(comb, test.label)
    assert ev.headline.auc.value == pytest.approx(want["auc"])
    assert ev.headline.spec100.value == pytest.approx(want["spec100"])
    assert ev.scores["kl"].auprc.value == pytest.approx(
        detection_metrics(test.kl, test.label)["auprc"]
    )
    err_n = test.age_abs_error[test.label == 0]
    assert ev.mae_n is not None and ev.mae_n.mean == pytest.approx(err_n.mean())
    assert ev.mae_n.sd == pytest.approx(err_n.std(ddof=1)) and ev.mae_n.n == 60
    assert ev.n_val == (40, 20) and ev.n_test == (60, 30)
    d = ev.to_dict()
    assert d["scores"]["combined"]["auc"]["ci_low"] <= d["scores"]["combined"]["auc"]["value"]


def test_method_without_age_head() -> None:
    ev = evaluate_method(scores_frame(1, age=False), n_resamples=200, alphas=ALPHAS, gammas=GAMMAS)
    assert not ev.has_age and ev.weights.gamma == 0.0 and ev.mae_a is None
    assert set(ev.scores) == {"rec", "kl", "combined"}


def test_evaluate_methods_compares_common_test_subjects() -> None:
    a = scores_frame(2, method="VAE", age=False, shift=0.3)
    b = scores_frame(3, method="VAE-a_p", shift=1.5)
    b = b[b.subject_id != "test-1-0"]  # one test subject missing from B
    study = evaluate_methods(
        {"VAE": a, "VAE-a_p": b}, n_resamples=200, alphas=ALPHAS, gammas=GAMMAS
    )
    (cmp,) = study.comparisons
    assert (cmp.name_a, cmp.name_b, cmp.n_anomalous, cmp.n_normal) == ("VAE", "VAE-a_p", 29, 60)
    doc = study.to_dict()
    assert doc["schema"] == "brainuad-metrics/1" and len(doc["methods"]) == 2
    assert doc["comparisons"][0]["score"] == "combined"


def test_conflicting_labels_between_methods_are_an_error() -> None:
    a = scores_frame(2, method="A")
    b = scores_frame(3, method="B")
    b.loc[b.subject_id == "test-0-0", "label"] = 1
    with pytest.raises(InputFileError, match=r"b.csv: expected the same labels for B as for A"):
        evaluate_methods(
            {"A": a, "B": b}, sources={"B": "b.csv"}, n_resamples=50, alphas=ALPHAS, gammas=GAMMAS
        )


def test_read_scores_groups_methods(tmp_path: Path) -> None:
    frame = pd.concat([scores_frame(0, method="A"), scores_frame(1, method="B", age=False)])
    tables = read_scores(_write(tmp_path, frame))
    assert list(tables) == ["A", "B"] and np.isnan(tables["B"].age_score).all()
    assert len(tables["A"]) == 150  # train rows dropped


def _broken(kind: str) -> pd.DataFrame:
    f = scores_frame(0)
    test_rows = f.index[f.split == "test"]
    if kind == "missing_column":
        return f.drop(columns=["kl"])
    if kind == "nan_score":
        f.loc[test_rows[:2], "rec"] = np.nan
    elif kind == "single_class_val":
        f.loc[f.split == "val", "label"] = 0
    elif kind == "single_class_test":
        f.loc[f.split == "test", "label"] = 1
    elif kind == "partial_age":
        f.loc[test_rows[:1], ["age_abs_error", "age_pred"]] = np.nan
    elif kind == "bad_label":
        f.loc[test_rows[:1], "label"] = 3
    elif kind == "bad_split":
        f.loc[test_rows[:1], "split"] = "holdout"
    elif kind == "duplicate":
        f.loc[test_rows[1], "subject_id"] = f.loc[test_rows[0], "subject_id"]
    return f


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing_column", r"missing column\(s\) kl"),
        ("nan_score", r"expected finite rec scores, found 2 empty/NaN.*test-0-0"),
        ("single_class_val", r"normal and anomalous subjects in the val split, found 60 normal"),
        ("single_class_test", r"in the test split, found 0 normal and 90 anomalous"),
        ("partial_age", r"age_abs_error for all val/test subjects or none, found it missing for 1"),
        ("bad_label", r"expected label 0 or 1, found 1 other"),
        ("bad_split", r"expected split train/val/test, found \['holdout'\]"),
        ("duplicate", r"unique subject_id in the test split, found test-0-0"),
    ],
)
def test_bad_tables_name_the_file(tmp_path: Path, kind: str, message: str) -> None:
    path = _write(tmp_path, _broken(kind), f"{kind}.csv")
    with pytest.raises(InputFileError, match=message) as info:
        read_scores(path)
    assert str(info.value).startswith(str(path))


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(
        InputFileError, match=r"nope.csv: expected a scores CSV file, found no such"
    ):
        read_scores(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputFileError, match=r"empty.csv: expected a CSV table"):
        read_scores(empty)
