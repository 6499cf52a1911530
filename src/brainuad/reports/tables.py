"""The report's tables, built from ``metrics.json`` (never recomputed) and ``splits.csv``.

Each table is a :class:`ReportTable`: a display frame of strings whose first column holds method
ids where it names methods (shown by their registry label, :mod:`brainuad.methods`: plain text
with ``_`` in Markdown, a subscript in HTML),
and an optional numeric frame written as CSV instead of the display strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainuad.evaluation.report import TABLE1_HEADER
from brainuad.io.atomic import atomic_path, write_text_atomic
from brainuad.methods import label_tex
from brainuad.methods import method_label as method_label  # re-exported for the report

SCORE_ORDER = ("rec", "kl", "age", "combined")
METRIC_ORDER = ("auc", "auprc", "spec100")
METRIC_HEADER = {"auc": "AUC (%)", "auprc": "AUPRC (%)", "spec100": "Specificity(100%) (%)"}
SCORE_LABELS = {"rec": "L_rec", "kl": "L_KL", "age": "L_age", "combined": "combined"}


def method_tex(method: str) -> str:
    """Matplotlib mathtext name of a method id or label (its subscript in math mode)."""
    label = method_label(method)
    tex = label_tex(label)
    return tex if tex != label else label.replace("$", r"\$")


def pct_ci(iv: dict[str, float]) -> str:
    """A fraction with its interval as percent: ``92.60 (90.1, 94.2)``."""
    return f"{100 * iv['value']:.2f} ({100 * iv['ci_low']:.1f}, {100 * iv['ci_high']:.1f})"


def mae_text(err: dict[str, float] | None) -> str:
    """``mean ± SD`` of an absolute age error in years, or ``N/A`` without an age head."""
    return "N/A" if not err else f"{err['mean']:.2f} ± {err['sd']:.2f}"


def p_text(p: float | None) -> str:
    """A p-value with three significant digits (scientific below 0.001)."""
    if p is None or not np.isfinite(p):
        return "N/A"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3g}"


def mean_sd_text(values: np.ndarray) -> str:
    """``mean ± SD`` (ddof 1) of finite values, ``–`` when there are none."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return "–"
    sd = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
    return f"{v.mean():.1f} ± {sd:.1f}"


def range_text(values: np.ndarray) -> str:
    """``min–max`` of finite values, ``–`` when there are none."""
    v = values[np.isfinite(values)]
    return "–" if v.size == 0 else f"{v.min():.1f}–{v.max():.1f}"


@dataclass(frozen=True, eq=False)
class ReportTable:
    """One table: ``display`` (strings), optional ``numeric`` (CSV), title and caption."""

    name: str
    title: str
    display: pd.DataFrame
    numeric: pd.DataFrame | None = None
    method_columns: tuple[str, ...] = ("Method",)
    caption: str = ""

    def markdown(self) -> str:
        """The display table as a GitHub-flavoured Markdown pipe table."""
        frame = self.display.copy()
        for col in self.method_columns:
            frame[col] = frame[col].map(method_label)
        cells = [[str(c).replace("|", r"\|") for c in row] for row in frame.to_numpy()]
        header = [str(c) for c in frame.columns]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        text = f"**{self.title}**\n\n" + "\n".join(lines) + "\n"
        return text + (f"\n{self.caption}\n" if self.caption else "")

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write ``<name>.csv`` (numeric if given, else display) and ``<name>.md``."""
        csv_path, md_path = folder / f"{self.name}.csv", folder / f"{self.name}.md"
        frame = self.numeric if self.numeric is not None else self.display
        with atomic_path(csv_path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.10g")
        write_text_atomic(md_path, self.markdown())
        return csv_path, md_path


def table1(metrics: dict[str, Any]) -> ReportTable:
    """The paper's Table 1: each method's headline (combined) score and MAE_A / MAE_N."""
    rows = []
    for m in metrics["methods"]:
        head = m["scores"][m.get("headline_score", "combined")]
        rows.append(
            [m["method"], *(pct_ci(head[k]) for k in METRIC_ORDER)]
            + [mae_text(m.get("mae_a")), mae_text(m.get("mae_n"))]
        )
    conf = 100 * float(metrics["settings"].get("confidence", 0.95))
    caption = (
        f"{conf:g}% BCa bootstrap CIs in brackets. MAE_A / MAE_N: mean ± SD of |predicted − "
        "chronological age| of the anomalous / normal test subjects; N/A without an age head."
    )
    return ReportTable(
        "table1", "Table 1", pd.DataFrame(rows, columns=TABLE1_HEADER), None, caption=caption
    )


def scores_table(metrics: dict[str, Any]) -> ReportTable:
    """Every score (rec, kl, age, combined) of every method x AUC, AUPRC, specificity."""
    shown, numeric = [], []
    for m in metrics["methods"]:
        for score in [s for s in SCORE_ORDER if s in m["scores"]] + [
            s for s in m["scores"] if s not in SCORE_ORDER
        ]:
            sm = m["scores"][score]
            shown.append(
                [m["method"], SCORE_LABELS.get(score, score)]
                + [pct_ci(sm[k]) for k in METRIC_ORDER]
            )
            row: dict[str, object] = {"method": m["method"], "score": score}
            row["headline"] = score == m.get("headline_score", "combined")
            for k in METRIC_ORDER:
                for part in ("value", "ci_low", "ci_high"):
                    suffix = "" if part == "value" else f"_{part}"
                    row[f"{k}_pct{suffix}"] = 100 * float(sm[k][part])
            numeric.append(row)
    cols = ["Method", "Score", *(METRIC_HEADER[k] for k in METRIC_ORDER)]
    return ReportTable(
        "scores",
        "All anomaly scores (test split)",
        pd.DataFrame(shown, columns=cols),
        pd.DataFrame(numeric),
        caption="combined = alpha·L_rec + beta·L_KL + gamma·L_age.",
    )


def weights_table(metrics: dict[str, Any]) -> ReportTable:
    """The combined score's weights chosen on the validation split, per method."""
    shown, numeric = [], []
    for m in metrics["methods"]:
        w, nv = m["weights"], m.get("n_val", {})
        numeric.append(
            {
                "method": m["method"],
                "alpha": w["alpha"],
                "beta": w["beta"],
                "gamma": w["gamma"],
                "val_auc_pct": 100 * float(w["val_auc"]),
                "n_optimal": w.get("n_optimal"),
                "n_val_normal": nv.get("normal"),
                "n_val_anomalous": nv.get("anomalous"),
            }
        )
        shown.append(
            [
                m["method"],
                f"{w['alpha']:g}",
                f"{w['beta']:g}",
                f"{w['gamma']:g}",
                f"{100 * float(w['val_auc']):.2f}",
                str(w.get("n_optimal", "–")),
                f"{nv.get('normal', '–')} / {nv.get('anomalous', '–')}",
            ]
        )
    cols = [
        "Method",
        "alpha",
        "beta",
        "gamma",
        "val AUC (%)",
        "optimal grid points",
        "val normal / anomalous",
    ]
    s = metrics["settings"]
    grids = ", ".join(
        f"{name} in [{g['min']:g}, {g['max']:g}] ({g['n']} values)"
        for name in ("alpha", "gamma")
        if isinstance(g := s.get(f"{name}_grid"), dict)
    )
    caption = f"Exact grid search on the validation split: {grids}; beta = {s.get('beta', 1):g}; "
    caption += f"ties: {s.get('tie_break', 'smallest alpha, then smallest gamma')}."
    return ReportTable(
        "weights",
        "Combined-score weights",
        pd.DataFrame(shown, columns=cols),
        pd.DataFrame(numeric),
        caption=caption,
    )


_COMPARISON_COLUMNS = (
    "method_a",
    "method_b",
    "auc_a_pct",
    "auc_b_pct",
    "diff_pct",
    "diff_pct_ci_low",
    "diff_pct_ci_high",
    "p_bootstrap",
    "p_delong",
    "n_normal",
    "n_anomalous",
)


def comparisons_table(metrics: dict[str, Any]) -> ReportTable:
    """Paired tests of the combined score's AUC between methods (A minus B)."""
    shown, numeric = [], []
    for c in metrics.get("comparisons", []):
        d = c["difference"]
        shown.append(
            [
                c["method_a"],
                c["method_b"],
                f"{100 * c['auc_a']:.2f}",
                f"{100 * c['auc_b']:.2f}",
                f"{100 * d['value']:+.2f} ({100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f})",
                p_text(c.get("p_bootstrap")),
                p_text(c.get("p_delong")),
                f"{c['n_normal']} / {c['n_anomalous']}",
            ]
        )
        numeric.append(
            {
                "method_a": c["method_a"],
                "method_b": c["method_b"],
                "auc_a_pct": 100 * c["auc_a"],
                "auc_b_pct": 100 * c["auc_b"],
                "diff_pct": 100 * d["value"],
                "diff_pct_ci_low": 100 * d["ci_low"],
                "diff_pct_ci_high": 100 * d["ci_high"],
                "p_bootstrap": c.get("p_bootstrap"),
                "p_delong": c.get("p_delong"),
                "n_normal": c["n_normal"],
                "n_anomalous": c["n_anomalous"],
            }
        )
    cols = [
        "Method A",
        "Method B",
        "AUC A (%)",
        "AUC B (%)",
        "ΔAUC A−B (points)",
        "p (bootstrap)",
        "p (DeLong)",
        "test normal / anomalous",
    ]
    skipped = "; ".join(
        f"{method_label(s['method_a'])} vs {method_label(s['method_b'])}: {s['reason']}"
        for s in metrics.get("skipped_comparisons", [])
    )
    caption = "Combined score, common test subjects; paired bootstrap CI of the difference."
    caption += f" Not compared: {skipped}." if skipped else ""
    return ReportTable(
        "comparisons",
        "Paired tests between methods",
        pd.DataFrame(shown, columns=cols),
        pd.DataFrame(numeric, columns=_COMPARISON_COLUMNS),
        method_columns=("Method A", "Method B"),
        caption=caption,
    )


def cohort_table(splits: pd.DataFrame) -> ReportTable:
    """Counts and ages of normal / anomalous subjects per split (and overall)."""
    label = pd.to_numeric(splits["label"], errors="coerce").to_numpy()
    age = (
        pd.to_numeric(splits["age"], errors="coerce").to_numpy(dtype=np.float64)
        if "age" in splits
        else np.full(len(splits), np.nan)
    )
    split = splits["split"].astype(str).str.strip().str.lower().to_numpy()
    order = [s for s in ("train", "val", "test") if s in split]
    order += sorted(set(split) - set(order))
    shown, numeric = [], []
    for name in [*order, "all"]:
        sel = np.ones(len(split), bool) if name == "all" else split == name
        row: list[str] = [name, str(int(sel.sum()))]
        num: dict[str, object] = {"split": name, "n": int(sel.sum())}
        for lab, key in ((0, "normal"), (1, "anomalous")):
            part = sel & (label == lab)
            a = age[part]
            row += [str(int(part.sum())), mean_sd_text(a), range_text(a)]
            fin = a[np.isfinite(a)]
            num |= {
                f"n_{key}": int(part.sum()),
                f"age_{key}_mean": float(fin.mean()) if fin.size else None,
                f"age_{key}_sd": float(np.std(fin, ddof=1)) if fin.size > 1 else None,
                f"age_{key}_min": float(fin.min()) if fin.size else None,
                f"age_{key}_max": float(fin.max()) if fin.size else None,
            }
        shown.append(row)
        numeric.append(num)
    cols = [
        "Split",
        "Subjects",
        "Normal",
        "Normal age (y)",
        "Normal age range",
        "Anomalous",
        "Anomalous age (y)",
        "Anomalous age range",
    ]
    return ReportTable(
        "cohort",
        "Cohort",
        pd.DataFrame(shown, columns=cols),
        pd.DataFrame(numeric),
        method_columns=(),
        caption="Ages as mean ± SD (years), from splits.csv.",
    )
