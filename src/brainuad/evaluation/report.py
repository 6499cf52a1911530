"""Writing ``metrics.json`` / ``metrics.csv`` and printing the paper's Table 1.

``metrics.json`` (schema ``brainuad-metrics/1``; fractions in [0, 1], ages in years)::

    {
      "schema": "brainuad-metrics/1",
      "settings": {"n_resamples", "seed", "confidence", "interval": "BCa",
                   "resampling": "stratified by class", "headline_score": "combined",
                   "beta": 1.0, "alpha_grid": {"min", "max", "n"}, "gamma_grid": {...},
                   "tie_break": "smallest alpha, then smallest gamma", "mae_sd_ddof": 1},
      "methods": [                                  # in input order
        {"method", "source", "has_age", "headline_score": "combined",
         "n_val": {"normal", "anomalous"}, "n_test": {"normal", "anomalous"},
         "weights": {"alpha", "beta", "gamma", "val_auc", "n_optimal", "alpha_grid",
                     "gamma_grid", "tie_break"},
         "scores": {"rec" | "kl" | "age" | "combined":     # "age" only with an age head
                      {"auc" | "auprc" | "spec100": {"value", "ci_low", "ci_high"}}},
         "mae_n": {"mean", "sd", "n"} | null,       # normal test subjects
         "mae_a": {"mean", "sd", "n"} | null}       # anomalous test subjects
      ],
      "comparisons": [                              # every pair, combined score, A minus B
        {"method_a", "method_b", "score": "combined", "n_anomalous", "n_normal", "auc_a",
         "auc_b", "difference": {"value", "ci_low", "ci_high"}, "p_bootstrap",
         "delong_z", "delong_se", "p_delong", "n_resamples", "confidence"}
      ],
      "skipped_comparisons": [{"method_a", "method_b", "reason"}],
      "localisation": {method: record}   # voxel level, with lesion masks (docs/localisation.md)
    }

``metrics.csv`` is the flat table: one row per (method, score) with the chosen weights, the
three metrics and their interval ends (``auc``, ``auc_ci_low``, ``auc_ci_high``, ...) and the
MAEs (repeated on each row of the method; empty without an age head).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from brainuad.errors import ConfigError
from brainuad.evaluation.bootstrap import Interval
from brainuad.evaluation.metrics import METRICS
from brainuad.evaluation.study import AgeError, StudyEvaluation
from brainuad.io.atomic import atomic_path, write_json_atomic
from brainuad.methods import baseline_method

TABLE1_HEADER = (
    "Method",
    "AUC (%)",
    "AUPRC (%)",
    "Specificity(100%) (%)",
    "MAE_A (years)",
    "MAE_N (years)",
)


def flat_table(study: StudyEvaluation) -> pd.DataFrame:
    """One row per (method, score): weights, metrics with interval ends, MAEs."""
    rows = []
    for m in study.methods:
        for score, sm in m.scores.items():
            row: dict[str, object] = {
                "method": m.method,
                "score": score,
                "headline": score == "combined",
                "alpha": m.weights.alpha,
                "beta": m.weights.beta,
                "gamma": m.weights.gamma,
                "n_test_normal": m.n_test[0],
                "n_test_anomalous": m.n_test[1],
            }
            for metric in METRICS:
                iv = getattr(sm, metric)
                row |= {
                    metric: iv.value,
                    f"{metric}_ci_low": iv.ci_low,
                    f"{metric}_ci_high": iv.ci_high,
                }
            for key, err in (("mae_n", m.mae_n), ("mae_a", m.mae_a)):
                row[f"{key}_mean"] = None if err is None else err.mean
                row[f"{key}_sd"] = None if err is None else err.sd
            rows.append(row)
    return pd.DataFrame(rows)


def csv_path_for(json_path: str | Path) -> Path:
    """``metrics.csv`` beside ``metrics.json`` (same stem)."""
    path = Path(json_path)
    if path.suffix.lower() == ".csv":
        raise ConfigError(f"--out: expected a .json path for metrics, found {path}")
    return path.with_suffix(".csv")


def write_metrics(
    study: StudyEvaluation,
    json_path: str | Path,
    localisation: Mapping[str, dict[str, Any]] | None = None,
) -> tuple[Path, Path]:
    """Write ``metrics.json`` and the flat ``metrics.csv`` beside it, each atomically.

    ``localisation``: voxel-level records by method, stored under ``"localisation"`` (none: the
    key is left out)."""
    json_path = Path(json_path)
    csv_path = csv_path_for(json_path)
    doc = study.to_dict()
    if localisation:
        doc["localisation"] = dict(localisation)
    write_json_atomic(json_path, doc)
    with atomic_path(csv_path) as tmp:
        flat_table(study).to_csv(tmp, index=False, float_format="%.10g")
    return json_path, csv_path


def _pct(iv: Interval) -> str:
    return f"{100 * iv.value:.2f} ({100 * iv.ci_low:.0f}, {100 * iv.ci_high:.0f})"


def _mae(err: AgeError | None) -> str:
    return "N/A" if err is None else f"{err.mean:.2f} ± {err.sd:.2f}"


def _render(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)]).rstrip()


def format_table1(study: StudyEvaluation) -> str:
    """The paper's Table 1 (combined score of each method), values as ``92.60 (90, 94)``."""
    rows = [
        (
            m.method,
            _pct(m.headline.auc),
            _pct(m.headline.auprc),
            _pct(m.headline.spec100),
            _mae(m.mae_a),
            _mae(m.mae_n),
        )
        for m in study.methods
    ]
    return _render(TABLE1_HEADER, rows)


def format_table1_from_dict(doc: dict) -> str:
    """:func:`format_table1` from a loaded ``metrics.json`` document (schema 1)."""

    def iv(d: dict) -> Interval:
        return Interval(float(d["value"]), float(d["ci_low"]), float(d["ci_high"]))

    def err(d: dict | None) -> AgeError | None:
        return None if d is None else AgeError(float(d["mean"]), float(d["sd"]), int(d["n"]))

    rows = []
    for m in doc["methods"]:
        head = m["scores"][m.get("headline_score", "combined")]
        rows.append(
            (
                m["method"],
                _pct(iv(head["auc"])),
                _pct(iv(head["auprc"])),
                _pct(iv(head["spec100"])),
                _mae(err(m.get("mae_a"))),
                _mae(err(m.get("mae_n"))),
            )
        )
    return _render(TABLE1_HEADER, rows)


def format_score_table(study: StudyEvaluation) -> str:
    """Test AUC (%) of every score of every method (the paper's Figure 2 as a table)."""
    header = ("Method", "L_rec", "L_KL", "L_age", "combined", "alpha", "gamma")
    rows = []
    for m in study.methods:
        cells = [
            _pct(m.scores[s].auc) if s in m.scores else "N/A"
            for s in ("rec", "kl", "age", "combined")
        ]
        rows.append((m.method, *cells, f"{m.weights.alpha:g}", f"{m.weights.gamma:g}"))
    return _render(header, rows)


def format_comparisons(study: StudyEvaluation) -> str:
    """One line per paired test: AUC difference (points) with CI and both p-values."""
    lines = []
    for c in study.comparisons:
        d = c.difference
        lines.append(
            f"{c.name_a} vs {c.name_b}: dAUC = {100 * d.value:+.2f} "
            f"({100 * d.ci_low:+.2f}, {100 * d.ci_high:+.2f}) points, "
            f"p_bootstrap = {c.p_bootstrap:.4g}, p_DeLong = {c.delong.p_value:.4g} "
            f"(n = {c.n_normal} normal + {c.n_anomalous} anomalous)"
        )
    for s in study.skipped:
        lines.append(f"{s['method_a']} vs {s['method_b']}: not compared ({s['reason']})")
    return "\n".join(lines)


def _signed_difference(c: dict, baseline: str) -> tuple[str, str, float, float, float]:
    a, b, sign = c["method_a"], c["method_b"], 1.0
    if a == baseline:
        a, b, sign = b, a, -1.0
    d = c["difference"]
    lo, hi = sorted((sign * d["ci_low"], sign * d["ci_high"]))
    return a, b, sign * d["value"], lo, hi


def format_study_summary(doc: dict, baseline: str | None = None) -> str:
    """What ``brainuad run`` prints after Table 1, from a ``metrics.json`` document: the paired
    tests against ``baseline``, the brain age of each age-head method beside the reference
    predictors and chronological age alone, and the study's warnings. ``baseline`` defaults to
    the registry's baseline method (:func:`brainuad.methods.baseline_method`)."""
    baseline = baseline or baseline_method()
    lines = []
    pairs = [c for c in doc.get("comparisons", []) if baseline in (c["method_a"], c["method_b"])]
    if pairs:
        lines.append(f"Paired tests of the combined score against {baseline} (test set):")
        for c in pairs:
            a, b, diff, lo, hi = _signed_difference(c, baseline)
            lines.append(
                f"  {a} - {b}: dAUC {100 * diff:+.2f} points ({100 * lo:+.1f}, {100 * hi:+.1f}),"
                f" p = {c['p_bootstrap']:.3g} (paired bootstrap), p = {c['p_delong']:.3g} "
                "(DeLong)"
            )
    ages = []
    for m in doc["methods"]:
        if m.get("mae_n"):
            age_auc = m["scores"].get("age", {}).get("auc", {}).get("value")
            bc_auc = m["scores"].get("age_bc", {}).get("auc", {}).get("value")
            ages.append(
                f"  {m['method']}: MAE_N {m['mae_n']['mean']:.2f} y, MAE_A "
                f"{m['mae_a']['mean']:.2f} y, AUC of L_age {100 * age_auc:.1f}%"
                + ("" if bc_auc is None else f", of the bias-corrected gap {100 * bc_auc:.1f}%")
            )
    refs = doc.get("references", {})
    for name, entry in refs.get("brain_age", {}).items():
        ages.append(
            f"  {name} regression on the voxels (reference): MAE_N {entry['mae_n']['mean']:.2f} "
            f"y, MAE_A {entry['mae_a']['mean']:.2f} y"
        )
    if "chronological_age" in refs:
        ages.append(
            f"  chronological age alone: AUC {100 * refs['chronological_age']['auc']['value']:.1f}%"
        )
    if ages:
        lines += ["Brain age (test set):", *ages]
    warnings = doc.get("warnings", [])
    if warnings:
        lines.append("Warnings:")
        lines += [
            f"  - {(w['method'] + ': ') if w.get('method') else ''}{w['message']}" for w in warnings
        ]
    return "\n".join(lines)
