"""Table 2 and the localisation figure: how good are the voxel anomaly maps?

Reads ``metrics.json["localisation"]`` (written by the study's ``localise`` stage, see
:mod:`brainuad.scoring.localise`) and ``localisation/<method>.npz`` (best/median/worst slices).
Nothing is shown when the results have no localisation (a cohort without lesion masks).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from brainuad.reports.html import Section, method_html
from brainuad.reports.tables import ReportTable, method_tex

TABLE2_HEADER = (
    "Method",
    "Pooled AUROC",
    "Pooled AUPRC",
    "Dice @ 1% FPR",
    "Dice @ 5% FPR",
    "Oracle Dice (upper bound)",
)
_DICE_KEYS = ("fpr1", "fpr5", "oracle")


def _ci(entry: dict[str, float] | None) -> str:
    if not entry or not np.isfinite(entry.get("value", np.nan)):
        return "N/A"
    low, high = entry.get("ci_low", np.nan), entry.get("ci_high", np.nan)
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{entry['value']:.3f}"
    return f"{entry['value']:.3f} ({low:.2f}, {high:.2f})"


def table2(metrics: dict[str, Any]) -> ReportTable | None:
    """Per method: pooled voxel AUROC/AUPRC, Dice at the healthy-validation thresholds, oracle."""
    records = metrics.get("localisation") or {}
    order = [m["method"] for m in metrics.get("methods", []) if m["method"] in records]
    order += [m for m in records if m not in order]
    if not order:
        return None
    rows, numeric = [], []
    for method in order:
        rec = records[method]
        pooled, dice = rec["pooled"], rec["dice"]
        rows.append(
            [
                method,
                _ci({"value": pooled["auroc"], **pooled.get("auroc_ci", {})}),
                f"{pooled['auprc']:.3f}",
                *(_ci(dice.get(k)) for k in _DICE_KEYS),
            ]
        )
        row: dict[str, Any] = {"method": method, **{k: pooled[k] for k in ("auroc", "auprc")}}
        for k in _DICE_KEYS:
            for part in ("value", "ci_low", "ci_high"):
                row[f"dice_{k}" + ("" if part == "value" else f"_{part}")] = dice[k][part]
        row.update({f"threshold_{k}": v for k, v in rec["thresholds"].items()})
        row["n_test_lesion"] = rec["n_test_lesion"]
        numeric.append(row)
    first = records[order[0]]
    conf = 100 * float(metrics.get("settings", {}).get("confidence", 0.95))
    post = first.get("postprocess", {})
    excluded = sorted({e["subject_id"] for r in records.values() for e in r.get("excluded", [])})
    caption = (
        f"Voxel level, test split: pooled over the brain voxels (brain mask eroded by "
        f"{post.get('erode_voxels')} voxels, {post.get('median_size')}³ median filter) of "
        f"{first['n_test']} test subjects, {first['n_test_lesion']} with a lesion (healthy "
        "subjects add only negatives). Dice: mean over the subjects with a lesion of the Dice of "
        "the map thresholded at the voxel false-positive rate of 1% / 5% on the HEALTHY "
        "VALIDATION subjects (components under "
        f"{post.get('min_component_ml')} ml removed), {conf:g}% BCa CIs over subjects in "
        "brackets. Oracle Dice: the threshold that maximises the pooled Dice on the test labels "
        "themselves, an upper bound that no user could reach. Pooled AUROC: BCa CI over subjects "
        "(exact replicates); pooled AUPRC has no CI here."
    )
    if excluded:
        caption += (
            f" Left out (anomalous, lesion mask empty in model space): {', '.join(excluded)}."
        )
    return ReportTable(
        "table2",
        "Table 2",
        pd.DataFrame(rows, columns=TABLE2_HEADER),
        pd.DataFrame(numeric),
        caption=caption,
    )


def localisation_figure(arrays: dict[str, np.ndarray], method: str) -> Figure:
    """Best / median / worst Dice at 1% FPR: map over the scan, true lesion outlined."""
    n = len(arrays["subject_id"])
    fig = Figure(figsize=(3.0 * n, 3.4))
    axes = fig.subplots(1, n, squeeze=False)[0]
    vmax = (
        float(np.percentile(arrays["map"][arrays["map"] > 0], 99.5))
        if (arrays["map"] > 0).any()
        else 1.0
    )
    for k, ax in enumerate(axes):
        scan, amap = arrays["input"][k], arrays["map"][k]
        ax.imshow(scan, cmap="gray", interpolation="nearest")
        shown = np.ma.masked_less_equal(amap, float(arrays["threshold"]))
        ax.imshow(shown, cmap="hot", vmin=0.0, vmax=vmax, alpha=0.75, interpolation="nearest")
        if arrays["lesion"][k].any():
            ax.contour(arrays["lesion"][k], levels=[0.5], colors=["#00e5ff"], linewidths=1.2)
        if arrays["pred"][k].any():
            ax.contour(
                arrays["pred"][k],
                levels=[0.5],
                colors=["#7CFC00"],
                linewidths=0.9,
                linestyles="dashed",
            )
        ax.set_title(
            f"{arrays['rank'][k]}: {arrays['subject_id'][k]}\nDice {arrays['dice'][k]:.2f}",
            fontsize=8,
        )
        ax.set_axis_off()
    fig.suptitle(f"{method_tex(method)}: map above the 1% FPR threshold", fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.8, wspace=0.05)
    return fig


def localisation_sections(
    metrics: dict[str, Any],
    root: Path,
    table: Callable[[ReportTable], str],
    figure: Callable[[Figure, str, str, str], str],
) -> list[Section]:
    """The ``Table 2`` section (table + one figure per method), or nothing without records."""
    t2 = table2(metrics)
    if t2 is None:
        return []
    body = table(t2)
    notes: list[str] = []
    for method in t2.numeric["method"] if t2.numeric is not None else []:
        path = root / "localisation" / f"{method}.npz"
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            notes.append(f"localisation/{method}.npz could not be read ({exc}).")
            continue
        if not arrays:
            continue
        body += f"<h3>{method_html(method)}</h3>" + figure(
            localisation_figure(arrays, method),
            f"localisation_{method}",
            f"Anomaly maps of the best, median and worst test subjects of {method}",
            "Axial slice through the lesion's centre; heat: post-processed map above the 1% "
            "FPR threshold; cyan: true lesion; green dashed: thresholded map (small components "
            "removed). Ranked by Dice at 1% FPR.",
        )
    return [Section("table2", "Table 2: where is the anomaly?", body, tuple(notes))]
