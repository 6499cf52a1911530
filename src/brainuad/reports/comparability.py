"""The report's "Preprocessing check" section: were both groups preprocessed alike?

Reads ``cache/comparability-<token>.json`` of a results folder (named in ``cache/cache.json``
under ``extra_files.comparability``; schema ``brainuad-comparability/1``, written by
:mod:`brainuad.preprocessing.comparability` after every preprocessing run). Its warnings are
shown as highlighted notes and the section is moved to the top of the page while it has any.
Kept apart from :mod:`.build` so that the page only calls :func:`with_comparability`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from brainuad.reports.html import Section, esc, kv_table

SCHEMA = "brainuad-comparability/1"
SECTION_ID = "preprocessing-check"
TITLE = "Preprocessing check"
_MEANING = {
    "deepbet": "deepbet CNN (head with skull)",
    "none": "mask from the image (already skull-stripped)",
    "mask": "brain mask from the manifest",
    "unknown": "not recorded",
}


def load_comparability(root: str | Path) -> tuple[dict[str, Any] | None, str]:
    """The check of ``root/cache`` and an empty note, or None and why it is missing."""
    cache_json = Path(root) / "cache" / "cache.json"
    if not cache_json.is_file():
        return None, "No cache/cache.json in the results folder: preprocessing check omitted."
    try:
        meta = json.loads(cache_json.read_text(encoding="utf-8"))
        name = meta.get("extra_files", {}).get("comparability")
        if not name:
            return None, (
                "The cache has no preprocessing check (made by an older brainuad); re-run the "
                "study to add it."
            )
        doc = json.loads((cache_json.parent / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        return None, f"The preprocessing check could not be read ({exc})."
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        return None, f"The preprocessing check is not in the {SCHEMA} format."
    return doc, ""


def _counts_rows(doc: dict[str, Any], key: str, meaning: bool) -> str:
    groups = ("healthy", "anomalous")
    counts = {g: doc.get(key, {}).get(g, {}) for g in groups}
    names = sorted({k for g in groups for k in counts[g]})
    head = "".join(f"<th>{esc(g)} (n={esc(doc.get(f'n_{g}', '?'))})</th>" for g in groups)
    rows = []
    for name in names:
        label = f"{name}: {_MEANING.get(name, name)}" if meaning else name
        cells = "".join(f"<td>{esc(counts[g].get(name, 0))}</td>" for g in groups)
        rows.append(f'<tr><td class="text">{esc(label)}</td>{cells}</tr>')
    first = "Skull-stripping path" if meaning else "Input"
    return (
        f'<div class="tablewrap"><table><thead><tr><th class="text">{first}</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def comparability_section(root: str | Path) -> Section:
    """The section (paths per group, the QC classifier, warnings as notes)."""
    doc, missing = load_comparability(root)
    if doc is None:
        return Section(SECTION_ID, TITLE, "", (missing,))
    body = (
        '<p class="lead">Healthy and anomalous scans should reach the model in the same state; '
        "if they were preprocessed differently, a detector can separate the groups by their "
        "preprocessing instead of their anatomy.</p>"
    )
    body += _counts_rows(doc, "paths", True) + _counts_rows(doc, "inputs", False)
    auc = doc.get("cv_auc")
    note = str(doc.get("classifier_note", ""))
    features = ", ".join(str(f) for f in doc.get("features", []))
    if auc is None:
        body += f"<p>QC classifier: {esc(note)}.</p>"
    else:
        body += (
            f"<p>QC classifier ({esc(note)} on {esc(features)}): cross-validated AUC "
            f"<b>{float(auc):.2f}</b> for telling healthy from anomalous scans by these "
            "measures alone (0.5 = no separation; above 0.95 is flagged).</p>"
        )
        pairs = [(str(k), f"{float(v):.2f}") for k, v in doc.get("feature_auc", {}).items()]
        if pairs:
            body += kv_table(pairs, ("QC measure", "AUC alone (max of AUC, 1 - AUC)"))
    warnings = tuple(str(w) for w in doc.get("warnings", []))
    return Section(SECTION_ID, TITLE, body, warnings)


def with_comparability(sections: list[Section], root: str | Path) -> list[Section]:
    """``sections`` plus the preprocessing check: first while it warns, else after the cohort.

    A results folder without a ``cache/`` (assembled from stage-by-stage outputs) gets no
    section: the check lives with the cache that ``brainuad preprocess`` wrote.
    """
    if any(s.id == SECTION_ID for s in sections) or not (Path(root) / "cache").is_dir():
        return sections
    section = comparability_section(root)
    if section.notes and section.body:  # warnings of a real check: put them where they are seen
        return [section, *sections]
    ids = [s.id for s in sections]
    at = ids.index("cohort") + 1 if "cohort" in ids else len(sections)
    return [*sections[:at], section, *sections[at:]]
