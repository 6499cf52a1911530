"""Table builders and formatting: values come from metrics.json as given, names, cohort."""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainuad.reports import tables
from brainuad.reports.build import _umask
from brainuad.reports.html import method_html, table_html


@pytest.fixture(scope="module")
def metrics(results_dir: Path) -> dict:
    return json.loads((results_dir / "metrics.json").read_text())


def test_report_table1_shows_metrics_json_values_not_recomputed(metrics: dict) -> None:
    doc = copy.deepcopy(metrics)
    doc["methods"][0]["scores"]["combined"]["auc"] = {
        "value": 0.1234,
        "ci_low": 0.0511,
        "ci_high": 0.2049,
    }
    doc["methods"][2]["mae_a"] = {"mean": 14.571, "sd": 9.7249, "n": 15}
    t1 = tables.table1(doc).display
    assert t1.loc[0, "AUC (%)"] == "12.34 (5.1, 20.5)"
    assert t1.loc[2, "MAE_A (years)"] == "14.57 ± 9.72"
    assert list(t1.loc[0, ["MAE_A (years)", "MAE_N (years)"]]) == ["N/A", "N/A"]
    assert "95% BCa" in tables.table1(doc).caption


def test_report_formatters() -> None:
    assert tables.pct_ci({"value": 0.926, "ci_low": 0.9012, "ci_high": 0.9421}) == (
        "92.60 (90.1, 94.2)"
    )
    assert tables.mae_text(None) == "N/A"
    assert tables.p_text(0.04321) == "0.0432" and tables.p_text(2.5e-5) == "2.50e-05"
    assert tables.p_text(float("nan")) == "N/A"
    assert tables.mean_sd_text(np.array([np.nan])) == "–"
    assert tables.range_text(np.array([30.0, np.nan, 70.0])) == "30.0–70.0"


def test_report_method_names() -> None:
    assert [tables.method_label(m) for m in ("vae", "vae-ac", "vae-ap", "mine")] == [
        "VAE",
        "VAE-a_c",
        "VAE-a_p",
        "mine",
    ]
    assert tables.method_tex("vae-ac") == "VAE-$a_c$" and tables.method_tex("a$b") == r"a\$b"
    assert method_html("vae-ap") == "VAE-a<sub>p</sub>" and method_html("<x>") == "&lt;x&gt;"


def test_report_scores_table_marks_headline_rows(metrics: dict) -> None:
    table = tables.scores_table(metrics)
    html = table_html(table)
    n_combined = sum(1 for m in metrics["methods"] if "combined" in m["scores"])
    assert html.count('<tr class="headline">') == n_combined == 3
    assert list(table.display["Score"][:3]) == ["L_rec", "L_KL", "combined"]
    assert "| L_age |" in table.markdown()


def test_report_cohort_table_counts_and_missing_ages() -> None:
    splits = pd.DataFrame(
        {
            "subject_id": ["a", "b", "c", "d", "e"],
            "split": ["train", "test", "test", "val", "TEST "],
            "label": [0, 0, 1, 0, 1],
            "age": [30.0, 50.0, np.nan, 40.0, 70.0],
        }
    )
    table = tables.cohort_table(splits)
    shown = table.display.set_index("Split")
    assert list(shown.index) == ["train", "val", "test", "all"]
    assert shown.loc["test", "Subjects"] == "3" and shown.loc["test", "Anomalous"] == "2"
    assert shown.loc["test", "Anomalous age (y)"] == "70.0 ± 0.0"
    assert shown.loc["train", "Anomalous age (y)"] == "–"
    num = table.numeric.set_index("split")
    assert num.loc["all", "n_normal"] == 3 and num.loc["all", "age_normal_max"] == 50.0


def test_report_tables_write_csv_and_markdown(metrics: dict, tmp_path: Path) -> None:
    csv_path, md_path = tables.weights_table(metrics).write(tmp_path)
    frame = pd.read_csv(csv_path)
    assert list(frame["method"]) == [m["method"] for m in metrics["methods"]]
    assert md_path.read_text(encoding="utf-8").startswith("**Combined-score weights**")
    assert "| VAE-a_c |" in md_path.read_text(encoding="utf-8")


def test_report_files_get_the_umask_modes_not_private_temp_modes(report_html: Path) -> None:
    mask = _umask()
    assert stat.S_IMODE(report_html.stat().st_mode) == 0o666 & ~mask
    for folder in (report_html.parent, report_html.parent / "figures"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask
