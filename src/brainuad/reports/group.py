"""The BIDS App's group page: score distributions, flagged scans, failures, brain-age gap.

Built from the group table of :mod:`brainuad.bids.group` alone (one row per scan); figures are
drawn with the Agg canvas and embedded as PNG, like the study report (:mod:`.html`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from brainuad import __version__
from brainuad.io.atomic import write_text_atomic
from brainuad.reports.html import Section, esc, figure_html, kv_table, notes_html, render_page
from brainuad.reports.plots import ANOMALOUS_COLOR, NORMAL_COLOR, SCORE_COLORS, SCORE_TEX

_HISTS = (("rec", "rec"), ("kl", "kl"), ("age_score", "age"), ("combined", "combined"))
_FLAGGED_COLUMNS = ("participant_id", "session_id", "scan_id", "age", "combined")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, facecolor="white")
    return buf.getvalue()


def _values(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table:
        return np.empty(0)
    values = pd.to_numeric(table.loc[table["status"] == "ok", column], errors="coerce")
    return values.dropna().to_numpy(dtype=np.float64)


def scores_figure(table: pd.DataFrame, thresholds: dict[str, float]) -> Figure:
    """Histograms of L_rec, L_KL, L_age and the combined score of the screened scans; the
    operating points' thresholds on the combined score as vertical lines."""
    fig = Figure(figsize=(11, 6.4), layout="constrained")
    for ax, (column, name) in zip(fig.subplots(2, 2).ravel(), _HISTS, strict=True):
        values = _values(table, column)
        ax.set_title(f"{SCORE_TEX[name]} (n = {values.size})", fontsize=11)
        if values.size == 0:
            ax.text(0.5, 0.5, "unavailable", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        bins = min(40, max(5, int(np.sqrt(values.size)) * 2))
        ax.hist(values, bins=bins, color=SCORE_COLORS[name], alpha=0.85)
        ax.set_ylabel("scans")
        if name == "combined":
            for i, (point, threshold) in enumerate(thresholds.items()):
                style = ("--", ":", "-.")[i % 3]
                ax.axvline(threshold, color="k", ls=style, lw=1.2, label=f"{point} threshold")
            if thresholds:
                ax.legend(fontsize=9)
    return fig


def gap_figure(table: pd.DataFrame, flag: str | None) -> Figure | None:
    """Brain-age gap (predicted - chronological) against chronological age; scans flagged at
    the operating point ``flag`` in red. None without predicted ages."""
    ok = table[table["status"] == "ok"]
    if "brain_age_gap" not in ok:
        return None
    age = pd.to_numeric(ok["age"], errors="coerce").to_numpy(dtype=np.float64)
    gap = pd.to_numeric(ok["brain_age_gap"], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(age) & np.isfinite(gap)
    if not keep.any():
        return None
    flagged = np.zeros(len(ok), dtype=bool)
    if flag is not None and f"flag_{flag}" in ok:
        flagged = pd.to_numeric(ok[f"flag_{flag}"], errors="coerce").to_numpy() == 1
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.add_subplot()
    for mask, colour, label in (
        (keep & ~flagged, NORMAL_COLOR, "not flagged"),
        (keep & flagged, ANOMALOUS_COLOR, f"flagged ({flag})"),
    ):
        if mask.any():
            ax.scatter(age[mask], gap[mask], s=18, color=colour, alpha=0.8, label=label)
    ax.axhline(0.0, color="0.4", lw=1)
    ax.set_xlabel("chronological age (years)")
    ax.set_ylabel("brain-age gap (years)")
    ax.legend(fontsize=9)
    return fig


def _table(frame: pd.DataFrame, columns: list[str], link: str | None = None) -> str:
    head = "".join(f'<th class="text">{esc(c)}</th>' for c in columns)
    if link:
        head += '<th class="text">overview</th>'
    rows = []
    for _, row in frame.iterrows():
        cells = "".join(f'<td class="text">{esc(_fmt(row.get(c)))}</td>' for c in columns)
        if link:
            href = f"{row['participant_id']}/figures/{row['scan_id']}_desc-anomaly_overview.png"
            cells += f'<td class="text"><a href="{esc(href)}">PNG</a></td>'
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_group_report(
    table: pd.DataFrame,
    path: str | Path,
    *,
    model: dict[str, Any],
    thresholds: dict[str, float],
) -> Path:
    """Write the self-contained group page to ``path``; returns it."""
    path = Path(path)
    counts = table["status"].value_counts()
    ok = table[table["status"] == "ok"]
    summary = [
        ("participants", str(table["participant_id"].nunique())),
        ("T1w scans", str(int(table["scan_id"].notna().sum()))),
        ("screened", str(int(counts.get("ok", 0)))),
        ("failed", str(int(counts.get("failed", 0)))),
        ("not run yet", str(int(counts.get("not run", 0)))),
    ]
    flag_columns = [f"flag_{p}" for p in thresholds if f"flag_{p}" in table]
    for column in flag_columns:
        n = int((pd.to_numeric(ok[column], errors="coerce") == 1).sum())
        summary.append((f"flagged at {column[5:]}", f"{n} of {len(ok)}"))
    summary.append(("model", f"{model.get('method', '?')} ({model.get('bundle', '?')})"))
    summary.append(("weights SHA-256", str(model.get("weights_sha256", "?"))))
    sections = [Section("summary", "Summary", kv_table(summary, ("", "")))]
    sections.append(
        Section(
            "scores",
            "Score distributions",
            figure_html(
                _png(scores_figure(table, thresholds)),
                "score histograms",
                "Screened scans. Higher scores are more anomalous; a scan is flagged at an "
                "operating point when its combined score reaches the threshold.",
            ),
        )
    )
    flagged = ok.iloc[0:0]
    if flag_columns:
        hit = (ok[flag_columns].apply(pd.to_numeric, errors="coerce") == 1).any(axis=1)
        flagged = ok[hit].sort_values("combined", ascending=False)
    columns = [*_FLAGGED_COLUMNS, "combined_percentile", *flag_columns, "brain_age_gap"]
    columns = [c for c in columns if c in table] + ["warnings"]
    body = _table(flagged, columns, link="figures") if len(flagged) else ""
    notes = () if len(flagged) else ("No screened scan is flagged at any operating point.",)
    sections.append(Section("flagged", f"Flagged scans ({len(flagged)})", body, notes))
    gap = gap_figure(table, next(iter(thresholds), None))
    sections.append(
        Section(
            "brain-age",
            "Brain-age gap vs age",
            "" if gap is None else figure_html(_png(gap), "brain-age gap against age"),
            ()
            if gap is not None
            else ("No predicted brain age with a known age (age-head models only).",),
        )
    )
    bad = table[table["status"] != "ok"]
    sections.append(
        Section(
            "failures",
            f"Failed or not run ({len(bad)})",
            _table(bad, ["participant_id", "session_id", "scan_id", "status", "error"])
            if len(bad)
            else notes_html(["Every scan was screened."]),
        )
    )
    html = render_page(
        "brainuad group report",
        [esc(f"{len(table)} scan(s) of {table['participant_id'].nunique()} participant(s)")],
        sections,
        f"brainuad {esc(__version__)} — BIDS App group level",
    )
    write_text_atomic(path, html)
    return path
