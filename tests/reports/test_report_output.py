"""The written report: Table 1 and tables match metrics.json, figures, self-contained HTML."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from report_fixtures import COUNTS, METHODS
from sklearn.metrics import roc_auc_score

from brainuad.reports import load_results
from brainuad.reports.plots import headline_test_scores

FIGURES = ("figure2", "roc_pr", "age_scatter", "training_curves") + tuple(
    f"examples_{m}" for m in METHODS
)
TABLES = ("table1", "scores", "weights", "comparisons", "cohort")


def _pct(iv: dict) -> str:
    return f"{100 * iv['value']:.2f} ({100 * iv['ci_low']:.1f}, {100 * iv['ci_high']:.1f})"


def _metrics(results_dir: Path) -> dict:
    return json.loads((results_dir / "metrics.json").read_text())


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}">')
    return html[start : html.index("</section>", start)]


def test_report_table1_csv_and_html_match_metrics_json(
    results_dir: Path, report_html: Path
) -> None:
    metrics = _metrics(results_dir)
    table = pd.read_csv(
        report_html.parent / "tables" / "table1.csv", dtype=str, keep_default_na=False
    )
    assert list(table.columns) == [
        "Method",
        "AUC (%)",
        "AUPRC (%)",
        "Specificity(100%) (%)",
        "MAE_A (years)",
        "MAE_N (years)",
    ]
    assert list(table["Method"]) == list(METHODS)
    section = _section(report_html.read_text(encoding="utf-8"), "table1")
    assert "Headline score: the combined score" in section
    for row, m in zip(table.to_dict("records"), metrics["methods"], strict=True):
        comb = m["scores"]["combined"]
        expected = {
            "AUC (%)": _pct(comb["auc"]),
            "AUPRC (%)": _pct(comb["auprc"]),
            "Specificity(100%) (%)": _pct(comb["spec100"]),
        }
        if m["has_age"]:
            expected["MAE_A (years)"] = f"{m['mae_a']['mean']:.2f} ± {m['mae_a']['sd']:.2f}"
            expected["MAE_N (years)"] = f"{m['mae_n']['mean']:.2f} ± {m['mae_n']['sd']:.2f}"
        else:
            expected["MAE_A (years)"] = expected["MAE_N (years)"] = "N/A"
        for col, text in expected.items():
            assert row[col] == text
            assert f"<td>{text}</td>" in section
    md = (report_html.parent / "tables" / "table1.md").read_text(encoding="utf-8")
    assert "| VAE-a_p |" in md and "N/A" in md


def test_report_numeric_tables_equal_metrics_json(results_dir: Path, report_html: Path) -> None:
    metrics = _metrics(results_dir)
    tables = report_html.parent / "tables"
    for name in TABLES:
        assert (tables / f"{name}.csv").is_file() and (tables / f"{name}.md").is_file()
    scores = pd.read_csv(tables / "scores.csv")
    by_method = {m["method"]: m for m in metrics["methods"]}
    assert len(scores) == sum(len(m["scores"]) for m in metrics["methods"])
    assert set(scores.query("method == 'vae'")["score"]) == {"rec", "kl", "combined"}
    for row in scores.to_dict("records"):
        iv = by_method[row["method"]]["scores"][row["score"]]["auc"]
        assert row["auc_pct"] == pytest.approx(100 * iv["value"])
        assert row["auc_pct_ci_high"] == pytest.approx(100 * iv["ci_high"])
    weights = pd.read_csv(tables / "weights.csv")
    for row in weights.to_dict("records"):
        w = by_method[row["method"]]["weights"]
        assert (row["alpha"], row["gamma"]) == pytest.approx((w["alpha"], w["gamma"]))
    comps = pd.read_csv(tables / "comparisons.csv")
    assert len(comps) == len(metrics["comparisons"]) == 3
    for row, c in zip(comps.to_dict("records"), metrics["comparisons"], strict=True):
        assert row["diff_pct"] == pytest.approx(100 * c["difference"]["value"])
        assert row["p_delong"] == pytest.approx(c["p_delong"])
    cohort = pd.read_csv(tables / "cohort.csv").set_index("split")
    for split, (n_norm, n_anom) in COUNTS.items():
        assert (cohort.loc[split, "n_normal"], cohort.loc[split, "n_anomalous"]) == (n_norm, n_anom)


def test_report_curves_use_the_chosen_weights(results_dir: Path) -> None:
    results = load_results(results_dir)
    for m in results.methods:
        score, labels = headline_test_scores(results.scores[m["method"]], m)
        auc = m["scores"]["combined"]["auc"]["value"]
        assert roc_auc_score(labels, score) == pytest.approx(auc, abs=1e-12)
    age_method = next(m for m in results.methods if m["has_age"])
    assert age_method["weights"]["gamma"] > 0  # the age term really enters the curve


def test_report_figures_are_written_as_png_and_pdf(report_html: Path) -> None:
    figures = report_html.parent / "figures"
    for name in FIGURES:
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert (figures / f"{name}.pdf").read_bytes()[:5] == b"%PDF-", name
    assert sorted(p.stem for p in figures.glob("*.png")) == sorted(FIGURES)


def test_report_html_is_self_contained_with_png_data_uris(report_html: Path) -> None:
    html = report_html.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == len(FIGURES) == html.count("<img ")
    for src in sources:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        image = imread(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
        assert image.ndim == 3 and min(image.shape[:2]) > 100 and float(np.std(image)) > 0.01
    lowered = html.lower()
    for banned in ("<script", "<link", "http://", "https://", "url(", "<iframe", "@import"):
        assert banned not in lowered, banned
    assert re.findall(r'(?:src|href)="([^"#][^"]*)"', html) == sources


def test_report_html_has_every_section(report_html: Path, results_dir: Path) -> None:
    html = report_html.read_text(encoding="utf-8")
    for sid in (
        "table1",
        "figure2",
        "curves",
        "age",
        "weights",
        "comparisons",
        "examples",
        "training",
        "cohort",
        "config",
        "run",
    ):
        assert f'<section id="{sid}">' in html and f'href="#{sid}"' in html
    assert 'class="note"' not in html  # nothing is missing in the complete folder
    assert "preset: tiny  # fake study" in _section(html, "config")  # config.yaml verbatim
    run = _section(html, "run")
    assert "1 h 02 min" in run and "42.5 s" in run and np.__version__ in run
    examples = _section(html, "examples")
    assert "VAE-a<sub>p</sub>" in examples and examples.count("<img ") == len(METHODS)
    comparisons = _section(html, "comparisons")
    c = _metrics(results_dir)["comparisons"][0]
    diff = c["difference"]
    assert f"{100 * diff['value']:+.2f} ({100 * diff['ci_low']:+.1f}," in comparisons
