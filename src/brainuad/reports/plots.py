"""Metric figures: the paper's Figure 2, ROC / precision-recall curves, predicted vs true age.

Figures are :class:`matplotlib.figure.Figure` objects drawn with the Agg canvas (no pyplot, no
global backend switch). Values shown in legends and bars come from ``metrics.json``; the ROC
and PR curves are drawn from the scores tables with the chosen combined weights.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from brainuad.evaluation.grid import combined_score
from brainuad.io.atomic import atomic_path, write_bytes_atomic
from brainuad.reports.tables import SCORE_ORDER, method_tex

SCORE_COLORS = {"rec": "#4C72B0", "kl": "#DD8452", "age": "#55A868", "combined": "#C44E52"}
SCORE_TEX = {"rec": "$L_{rec}$", "kl": "$L_{KL}$", "age": "$L_{age}$", "combined": "combined"}
METHOD_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
NORMAL_COLOR, ANOMALOUS_COLOR = "#1f77b4", "#d62728"


def save_figure(fig: Figure, folder: Path, name: str, dpi: int = 120) -> bytes:
    """Write ``<name>.png`` and ``<name>.pdf`` into ``folder``; return the PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    png = buf.getvalue()
    write_bytes_atomic(folder / f"{name}.png", png)
    with atomic_path(folder / f"{name}.pdf") as tmp:
        fig.savefig(tmp, format="pdf", facecolor="white")
    return png


def _method_color(i: int) -> str:
    return METHOD_COLORS[i % len(METHOD_COLORS)]


def figure2(metrics: dict[str, Any]) -> Figure:
    """Grouped bars: test AUC (%) of each score of each method, CI error bars (Figure 2)."""
    methods = metrics["methods"]
    fig = Figure(figsize=(max(6.0, 1.9 * len(methods) + 2.5), 4.2), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(SCORE_ORDER)
    lows = [100 * m["scores"][s]["auc"]["ci_low"] for m in methods for s in m["scores"]]
    bottom = max(0.0, 10 * np.floor(min(lows) / 10) - 10)
    for j, score in enumerate(SCORE_ORDER):
        offset = (j - (len(SCORE_ORDER) - 1) / 2) * width
        xs, vals, err_lo, err_hi = [], [], [], []
        for i, m in enumerate(methods):
            if score not in m["scores"]:
                ax.text(
                    i + offset,
                    bottom + 1,
                    "N/A",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="0.45",
                )
                continue
            iv = m["scores"][score]["auc"]
            v, lo, hi = (100 * float(iv[k]) for k in ("value", "ci_low", "ci_high"))
            xs.append(i + offset)
            vals.append(v)
            err_lo.append(max(v - lo, 0.0))
            err_hi.append(max(hi - v, 0.0))
        if not xs:
            continue
        ax.bar(
            xs,
            vals,
            width * 0.92,
            yerr=[err_lo, err_hi],
            capsize=3,
            label=SCORE_TEX[score],
            color=SCORE_COLORS[score],
            error_kw={"elinewidth": 1, "ecolor": "0.2"},
        )
        for x, v, eh in zip(xs, vals, err_hi, strict=True):
            ax.text(x, min(v + eh + 0.8, 99.5), f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(methods)), [method_tex(m["method"]) for m in methods])
    ax.set_ylim(bottom, 104)
    ax.set_ylabel("Test AUC (%)")
    ax.set_title("Discriminative performance of the anomaly scores (test split)", fontsize=11)
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    ax.legend(ncols=4, loc="lower center", bbox_to_anchor=(0.5, -0.28), frameon=False)
    return fig


def headline_test_scores(frame: pd.DataFrame, entry: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """The combined score ``alpha*rec + beta*kl + gamma*age`` and labels of the test subjects.

    ``frame`` is a validated scores table (:func:`~brainuad.reports.artefacts.load_scores`),
    ``entry`` the method's ``metrics.json`` entry (its chosen weights).
    """
    test = frame[frame["split"] == "test"]
    w = entry["weights"]
    age = test["age_score"].to_numpy()
    gamma = float(w["gamma"])
    use_age = bool(np.isfinite(age).all()) and len(age) > 0
    score = combined_score(
        test["rec"].to_numpy(),
        test["kl"].to_numpy(),
        age if use_age else None,
        float(w["alpha"]),
        gamma if use_age else 0.0,
        float(w.get("beta", 1.0)),
    )
    return score, test["label"].to_numpy()


def _pr_steps(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision-recall points where recall changes (the steps that make up AUPRC)."""
    precision, recall, _ = precision_recall_curve(labels, scores)
    keep = np.append(recall[:-1] != recall[1:], True)
    return precision[keep], recall[keep]


def roc_pr_figure(metrics: dict[str, Any], scores: dict[str, pd.DataFrame]) -> Figure:
    """ROC and precision-recall curves of each method's combined score on the test split."""
    fig = Figure(figsize=(10.5, 4.6), layout="constrained")
    ax_roc, ax_pr = fig.subplots(1, 2)
    prevalence = None
    for i, m in enumerate(metrics["methods"]):
        s, y = headline_test_scores(scores[m["method"]], m)
        head = m["scores"][m.get("headline_score", "combined")]
        color, name = _method_color(i), method_tex(m["method"])
        fpr, tpr, _ = roc_curve(y, s)
        ax_roc.plot(
            fpr, tpr, color=color, lw=1.8, label=f"{name}  AUC {100 * head['auc']['value']:.2f}%"
        )
        precision, recall = _pr_steps(y, s)
        ax_pr.plot(
            recall,
            precision,
            color=color,
            lw=1.8,
            drawstyle="steps-post",
            label=f"{name}  AUPRC {100 * head['auprc']['value']:.2f}%",
        )
        prevalence = float(np.mean(y)) if prevalence is None else prevalence
    ax_roc.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="chance")
    if prevalence is not None:
        ax_pr.axhline(prevalence, ls="--", color="0.6", lw=1, label=f"chance ({prevalence:.2f})")
    ax_roc.set(
        xlabel="False positive rate (1 − specificity)",
        ylabel="True positive rate (sensitivity)",
        title="ROC, combined score",
        xlim=(-0.01, 1.01),
        ylim=(0, 1.02),
    )
    ax_pr.set(
        xlabel="Recall (sensitivity)",
        ylabel="Precision",
        title="Precision–recall, combined score",
        xlim=(-0.01, 1.01),
        ylim=(0, 1.02),
    )
    for ax in (ax_roc, ax_pr):
        ax.grid(color="0.92")
        ax.set_aspect("equal")
        ax.legend(loc="lower right" if ax is ax_roc else "lower left", fontsize=8)
    return fig


def _age_methods(metrics: dict[str, Any], scores: dict[str, pd.DataFrame]) -> list[dict]:
    out = []
    for m in metrics["methods"]:
        test = scores[m["method"]].query("split == 'test'")
        if m.get("mae_n") and m.get("mae_a") and np.isfinite(test["age_pred"]).any():
            out.append(m)
    return out


def age_scatter_figure(metrics: dict[str, Any], scores: dict[str, pd.DataFrame]) -> Figure | None:
    """Predicted vs chronological age of normal / anomalous test subjects (age-head methods)."""
    methods = _age_methods(metrics, scores)
    if not methods:
        return None
    fig = Figure(figsize=(4.6 * len(methods) + 0.4, 5.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods), squeeze=False)[0])
    for ax, m in zip(axes, methods, strict=True):
        test = scores[m["method"]].query("split == 'test'")
        ok = np.isfinite(test["age_pred"].to_numpy()) & np.isfinite(test["age"].to_numpy())
        test = test[ok]
        for lab, key, color, marker, name in (
            (0, "mae_n", NORMAL_COLOR, "o", "normal"),
            (1, "mae_a", ANOMALOUS_COLOR, "^", "anomalous"),
        ):
            part = test[test["label"] == lab]
            err = m[key]
            ax.scatter(
                part["age"],
                part["age_pred"],
                s=18,
                c=color,
                marker=marker,
                alpha=0.7,
                edgecolors="none",
                label=f"{name} (n={len(part)}), MAE {err['mean']:.2f} ± {err['sd']:.2f} y",
            )
        both = np.concatenate([test["age"].to_numpy(), test["age_pred"].to_numpy()])
        lo, hi = float(both.min()), float(both.max())
        pad = 0.05 * max(hi - lo, 1.0)
        lims = (lo - pad, hi + pad)
        ax.plot(lims, lims, ls="--", color="0.4", lw=1, label="identity")
        ax.set(
            xlim=lims,
            ylim=lims,
            xlabel="Chronological age (years)",
            ylabel="Predicted brain age (years)",
            title=method_tex(m["method"]),
        )
        ax.set_aspect("equal")
        ax.grid(color="0.92")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, frameon=False)
    return fig
