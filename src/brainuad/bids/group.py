"""The group level of the BIDS App: every participant's scores in one table and one page.

Every T1w scan of the dataset gets one row of ``OUTPUT_DIR/brainuad/group_scores.tsv``
(``n/a`` for missing values, as BIDS tables do), described column by column in
``group_scores.json``: ``status`` is ``ok`` (its sidecar is there), ``failed`` (with the
participant level's error) or ``not run`` (no output yet: never started, or killed). A
participant without any T1w scan gets one ``failed`` row. ``group_report.html`` shows the score
distributions, the flagged scans, the failures and the brain-age gap against age
(:mod:`brainuad.reports.group`). Reads only the derivatives and the input dataset; no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from brainuad.bids import derivatives as deriv
from brainuad.bids.dataset import BidsScan, read_dataset
from brainuad.errors import InputFileError
from brainuad.io.atomic import atomic_path, write_json_atomic
from brainuad.io.lock import folder_lock

SCORES_TSV = "group_scores.tsv"
SCORES_JSON = "group_scores.json"
REPORT_HTML = "group_report.html"
SCORES = {"rec": "rec", "kl": "kl", "age": "age_score", "combined": "combined"}
COLUMNS = {
    "participant_id": "BIDS participant (sub-<label>)",
    "session_id": "BIDS session (ses-<label>), n/a without sessions",
    "scan_id": "T1w file name without _T1w.nii[.gz]",
    "status": "ok (screened), failed (see error) or not run (no output yet)",
    "age": "chronological age in years (participants.tsv / sessions.tsv)",
    "rec": "L_rec: sum of |x - x~| over the brain voxels (reconstruction error)",
    "kl": "L_KL: KL divergence of the posterior q(z|x) from N(0, I)",
    "age_score": "L_age: |predicted brain age - chronological age| in years (age-head models)",
    "combined": "alpha * L_rec + beta * L_KL + gamma * L_age (paper eq. 3)",
    "age_pred": "predicted brain age in years (age-head models)",
    "brain_age_gap": "predicted - chronological age in years",
    "quality_passed": "1 when every input quality check passed",
    "warnings": "warnings of the screening, separated by '; '",
    "error": "why the scan (or participant) failed",
    "anomaly_map": "path of the anomaly map, relative to the derivatives folder",
}


@dataclass(frozen=True)
class GroupResult:
    """What :func:`run_group` wrote and counted."""

    table: pd.DataFrame
    tsv: Path
    html: Path
    operating_points: dict[str, float]

    def summary(self) -> str:
        counts = self.table["status"].value_counts()
        parts = [f"{int(counts.get(s, 0))} {s}" for s in ("ok", "failed", "not run")]
        flags = [
            f"{int((self.table[f'flag_{n}'] == 1).sum())} flagged at {n}"
            for n in self.operating_points
        ]
        return (
            f"{len(self.table)} scan(s) of {self.table['participant_id'].nunique()} "
            f"participant(s): {', '.join(parts)}; {', '.join(flags) or 'no operating point'}"
            f" -> {self.tsv}, {self.html}"
        )


def record_row(record: dict[str, Any]) -> dict[str, Any]:
    """The score columns of one scan's sidecar record."""
    row: dict[str, Any] = {}
    for name, column in SCORES.items():
        entry = record.get("scores", {}).get(name, {})
        row[column] = entry.get("value")
        row[f"{column}_percentile"] = entry.get("percentile")
    for name, point in record.get("operating_points", {}).items():
        flagged = point.get("flagged")
        row[f"flag_{name}"] = None if flagged is None else int(flagged)
    brain_age = record.get("brain_age") or {}
    row["age_pred"] = brain_age.get("predicted")
    row["brain_age_gap"] = brain_age.get("gap")
    row["quality_passed"] = int(bool(record.get("quality", {}).get("passed")))
    row["warnings"] = "; ".join(record.get("warnings", []))
    row["anomaly_map"] = record.get("files", {}).get("anomaly_map")
    return row


def _row(
    root: Path, scan: BidsScan, status: dict[str, Any] | None, points: dict[str, float]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "participant_id": scan.participant,
        "session_id": scan.session,
        "scan_id": scan.scan_id,
        "age": scan.age,
    }
    record = deriv.read_sidecar(deriv.scan_paths(root, scan)["json"])
    if record is not None:
        if not points:  # every sidecar has the same model's operating points
            for name, point in record.get("operating_points", {}).items():
                points[name] = float(point["threshold"])
        return {**row, "status": "ok", **record_row(record)}
    entry = (status or {}).get("scans", {}).get(scan.scan_id, {})
    if entry.get("status") == "failed":
        return {**row, "status": "failed", "error": entry.get("error", "")}
    return {**row, "status": "not run"}


def collect(
    bids_dir: str | Path, output_dir: str | Path
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, float]]:
    """One row per T1w scan of the dataset (module docstring), the derivatives' model record
    and the threshold of each operating point."""
    root = _check_inputs(bids_dir, output_dir)
    model = json.loads((root / "dataset_description.json").read_text(encoding="utf-8"))
    model = model.get("BrainuadModel", {})
    dataset = read_dataset(bids_dir)
    rows = []
    points: dict[str, float] = {}
    for participant in dataset.participants:
        scans = dataset.scans_of(participant)
        status = deriv.read_status(root, participant)
        if not scans:
            rows.append(
                {
                    "participant_id": participant,
                    "status": "failed",
                    "error": "no T1w scan (anat/*_T1w.nii[.gz]) in the input dataset",
                }
            )
        rows.extend(_row(root, scan, status, points) for scan in scans)
    table = pd.DataFrame(rows)
    for column in ("session_id", "scan_id", "age", "status", "error", *SCORES.values()):
        if column not in table:
            table[column] = None
    for column in [c for c in table.columns if c.startswith("flag_")] + ["quality_passed"]:
        if column in table:  # 0/1 with gaps: nullable integers, not 1.0
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
    first = ["participant_id", "session_id", "scan_id", "status", "age"]
    rest = [c for c in table.columns if c not in first and c != "error"]
    return table[[*first, *rest, "error"]], model, points


def _check_inputs(bids_dir: str | Path, output_dir: str | Path) -> Path:
    if not Path(bids_dir).is_dir():
        raise InputFileError(bids_dir, "BIDS_DIR not found (expected a BIDS dataset folder)")
    root = deriv.derivatives_root(output_dir)
    if not (root / "dataset_description.json").is_file():
        raise InputFileError(
            root,
            "no brainuad derivatives here (dataset_description.json not found); run the "
            "participant level first",
        )
    return root


def run_group(bids_dir: str | Path, output_dir: str | Path) -> GroupResult:
    """Write ``group_scores.tsv``/``.json`` and ``group_report.html`` (one group run at a time:
    a second one is refused with :class:`~brainuad.errors.BusyError`)."""
    from brainuad.reports.group import write_group_report

    root = _check_inputs(bids_dir, output_dir)
    with folder_lock(root, "brainuad bids group"):
        table, model, points = collect(bids_dir, output_dir)
        tsv = root / SCORES_TSV
        with atomic_path(tsv) as tmp:
            table.to_csv(tmp, sep="\t", index=False, na_rep="n/a")
        described = {c: {"Description": COLUMNS.get(c, _describe(c))} for c in table.columns}
        write_json_atomic(root / SCORES_JSON, described)
        html = write_group_report(table, root / REPORT_HTML, model=model, thresholds=points)
    return GroupResult(table, tsv, html, points)


def _describe(column: str) -> str:
    if column.endswith("_percentile"):
        return f"percentile of {column[: -len('_percentile')]} among the healthy reference"
    if column.startswith("flag_"):
        return f"1 when the combined score reaches the {column[5:]} operating point's threshold"
    return column
