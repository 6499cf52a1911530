"""The report's preprocessing-check section: read from the cache, placed by its warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from brainuad.preprocessing.comparability import check_comparability
from brainuad.reports.comparability import SECTION_ID, comparability_section, with_comparability
from brainuad.reports.html import Section


def _results(tmp_path: Path, paths: list[str], labels: list[int]) -> Path:
    cache = tmp_path / "results" / "cache"
    cache.mkdir(parents=True)
    table = pd.DataFrame({"label": labels, "skull_strip_path": paths})
    doc = check_comparability(table).to_dict()
    (cache / "comparability-ab12.json").write_text(json.dumps(doc))
    meta = {"extra_files": {"comparability": "comparability-ab12.json"}}
    (cache / "cache.json").write_text(json.dumps(meta))
    return tmp_path / "results"


SECTIONS = [Section("table1", "Table 1"), Section("cohort", "Cohort"), Section("run", "Run")]


def test_warnings_go_first(tmp_path: Path) -> None:
    root = _results(tmp_path, ["deepbet"] * 3 + ["none"] * 2, [0, 0, 0, 1, 1])
    section = comparability_section(root)
    assert len(section.notes) == 1 and "different skull-stripping paths" in section.notes[0]
    assert "deepbet: deepbet CNN (head with skull)" in section.body
    assert "at least 5 healthy and 5 anomalous" in section.body  # classifier skipped
    ordered = with_comparability(SECTIONS, root)
    assert [s.id for s in ordered] == [SECTION_ID, "table1", "cohort", "run"]


def test_no_warning_sits_after_the_cohort(tmp_path: Path) -> None:
    root = _results(tmp_path, ["deepbet"] * 5, [0, 0, 0, 1, 1])
    ordered = with_comparability(SECTIONS, root)
    assert [s.id for s in ordered] == ["table1", "cohort", SECTION_ID, "run"]
    assert ordered[2].notes == ()


def test_missing_or_old_check_is_a_note(tmp_path: Path) -> None:
    section = comparability_section(tmp_path)
    assert section.body == "" and "No cache/cache.json" in section.notes[0]
    assert with_comparability(SECTIONS, tmp_path) == SECTIONS  # no cache: no section
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "cache.json").write_text("{}")
    section = comparability_section(tmp_path)
    assert "older brainuad" in section.notes[0]
    ordered = with_comparability(SECTIONS, tmp_path)
    assert [s.id for s in ordered] == ["table1", "cohort", SECTION_ID, "run"]
