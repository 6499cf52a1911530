"""What the report says about how far to trust Table 1 (all read from ``metrics.json``).

* :func:`paired_caption`: the paired tests of each age-aware method against the baseline VAE on
  the combined score (AUC difference with CI, bootstrap and DeLong p-values), for Table 1's
  caption: a result is a distribution, not a point estimate.
* :func:`warnings_html`: the study's warnings (validation/test disagreement, small validation
  split, age confound), shown above Table 1.
* :func:`brain_age_table`: the brain age of every method with an age head next to the ridge
  regression reference and the AUC of chronological age alone.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from brainuad.methods import baseline_method
from brainuad.reports.html import esc, method_html
from brainuad.reports.tables import ReportTable, mae_text, method_label, p_text, pct_ci

BASELINE = baseline_method()
WARNING_TITLES = {
    "val_test_disagreement": "Validation and test disagree",
    "small_validation": "Small validation split",
    "age_confound": "L_age is partly confounded by age",
}


def _comparison_text(c: dict[str, Any], plain: bool) -> str:
    a, b = c["method_a"], c["method_b"]
    sign = 1.0
    if a == BASELINE:  # state it as "method minus baseline"
        a, b, sign = b, a, -1.0
    d = c["difference"]
    lo, hi = sorted((sign * d["ci_low"], sign * d["ci_high"]))
    name = method_label if plain else method_html
    return (
        f"{name(a)} − {name(b)}: ΔAUC {100 * sign * d['value']:+.2f} points "
        f"({100 * lo:+.1f}, {100 * hi:+.1f}), p = {p_text(c.get('p_bootstrap'))} (paired "
        f"bootstrap), p = {p_text(c.get('p_delong'))} (DeLong), {c.get('n_normal')} normal + "
        f"{c.get('n_anomalous')} anomalous test subjects"
    )


def paired_caption(metrics: dict[str, Any], plain: bool = False) -> str:
    """Paired tests against the baseline VAE on the combined score, one sentence each."""
    parts = [
        _comparison_text(c, plain)
        for c in metrics.get("comparisons", [])
        if BASELINE in (c.get("method_a"), c.get("method_b"))
    ]
    if not parts:
        return ""
    conf = 100 * float(metrics["settings"].get("confidence", 0.95))
    head = f"Paired tests of the combined score against {method_label(BASELINE)} ({conf:g}% CI): "
    return head + "; ".join(parts)


def warnings_html(metrics: dict[str, Any]) -> str:
    """The study's warnings as an HTML list ("" when there are none)."""
    items = []
    for w in metrics.get("warnings", []):
        title = WARNING_TITLES.get(w.get("kind", ""), "Warning")
        who = f" ({method_html(w['method'])})" if w.get("method") else ""
        items.append(f"<li><b>{esc(title)}</b>{who}: {esc(w.get('message', ''))}</li>")
    if not items:
        return ""
    return (
        '<div class="warning"><p><b>When to doubt these results</b></p><ul>'
        + "".join(items)
        + "</ul></div>"
    )


def _auc(scores: dict[str, Any], name: str) -> str:
    return pct_ci(scores[name]["auc"]) if name in scores else "N/A"


def brain_age_table(metrics: dict[str, Any]) -> ReportTable | None:
    """Brain age per age-head method, the ridge reference and chronological age alone."""
    rows, numeric = [], []
    for m in metrics["methods"]:
        if not m.get("mae_n"):
            continue
        bc = m.get("bias_correction") or {}
        rows.append(
            [
                m["method"],
                mae_text(m.get("mae_n")),
                mae_text(m.get("mae_a")),
                _auc(m["scores"], "age"),
                _auc(m["scores"], "age_bc"),
                f"{bc['slope']:.2f}" if bc else "–",
            ]
        )
        numeric.append(_numeric_row(m["method"], m, m["scores"], bc))
    refs = metrics.get("references", {})
    for name, entry in refs.get("brain_age", {}).items():
        bc = entry.get("bias_correction") or {}
        label = f"{name} (reference, voxels)"
        rows.append(
            [
                label,
                mae_text(entry.get("mae_n")),
                mae_text(entry.get("mae_a")),
                _auc(entry["scores"], "age"),
                _auc(entry["scores"], "age_bc"),
                f"{bc['slope']:.2f}" if bc else "–",
            ]
        )
        numeric.append(_numeric_row(label, entry, entry["scores"], bc))
    age = refs.get("chronological_age")
    if age is not None:
        rows.append(["chronological age alone", "–", "–", pct_ci(age["auc"]), "–", "–"])
        numeric.append({"method": "chronological age", "auc_age_pct": 100 * age["auc"]["value"]})
    if not rows:
        return None
    cols = [
        "Method",
        "MAE_N (years)",
        "MAE_A (years)",
        "AUC of L_age (%)",
        "AUC of bias-corrected gap (%)",
        "bias slope",
    ]
    caption = (
        "Test split. L_age = |a_p − a_c| (the paper's score, used by the combined score); the "
        "bias-corrected gap is a_p − (slope·a_c + intercept) with slope and intercept fitted on "
        "the healthy validation subjects (slope 1 = no regression towards the mean). The ridge "
        "regression on the preprocessed voxels tells how much age signal the data holds; "
        "chronological age alone tells how much an age imbalance between the groups gives any "
        "age-related score."
    )
    return ReportTable(
        "brain_age",
        "Brain age",
        pd.DataFrame(rows, columns=cols),
        pd.DataFrame(numeric),
        method_columns=("Method",),
        caption=caption,
    )


def _numeric_row(
    name: str, entry: dict[str, Any], scores: dict[str, Any], bc: dict[str, Any]
) -> dict[str, Any]:
    row: dict[str, Any] = {"method": name}
    for key in ("mae_n", "mae_a"):
        err = entry.get(key) or {}
        row[f"{key}_mean"], row[f"{key}_sd"] = err.get("mean"), err.get("sd")
    for score in ("age", "age_bc"):
        row[f"auc_{score}_pct"] = 100 * scores[score]["auc"]["value"] if score in scores else None
    row["bias_slope"], row["bias_intercept"] = bc.get("slope"), bc.get("intercept")
    return row
