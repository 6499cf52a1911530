"""Demographic tables of public datasets: ``.xls`` (IXI.xls, via xlrd), CSV and TSV.

:func:`read_table` returns the header and the rows as text, whatever the format;
:func:`read_ages` turns a table into one :class:`AgeRecord` per subject id, keeping every
problem in view instead of guessing: a missing or invalid age, several rows for one id whose
ages agree (kept, and noted) or disagree by more than :data:`AGE_AGREEMENT_YEARS` (no age:
the subject is excluded rather than given one of the values).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from brainuad.errors import ConfigError, InputFileError
from brainuad.io.manifest import MAX_AGE

AGE_AGREEMENT_YEARS = 0.1  # duplicate rows whose ages differ by more are inconsistent
XLRD_HINT = (
    "reading .xls needs the xlrd package (pip install xlrd), or export the sheet as CSV "
    "(File > Save As > CSV) and pass that instead"
)


@dataclass(frozen=True)
class Table:
    """A demographic table as text: ``header`` (stripped names) and ``rows`` (dicts by name)."""

    path: Path
    header: tuple[str, ...]
    rows: tuple[dict[str, str], ...]

    def column(self, candidates: Sequence[str], what: str) -> str:
        """The first header name matching one of ``candidates`` (case-insensitive)."""
        lower = {h.lower(): h for h in self.header}
        for name in candidates:
            if name.lower() in lower:
                return lower[name.lower()]
        raise InputFileError(
            self.path,
            f"expected a column for the {what} ({' or '.join(candidates)}), found columns: "
            f"{', '.join(self.header) or 'none'}",
        )


@dataclass(frozen=True)
class AgeRecord:
    """The age of one subject id, or why there is none.

    ``age`` is None when ``problem`` says why (missing, invalid, inconsistent duplicates);
    ``note`` describes something kept but worth reporting (duplicate rows that agree).
    """

    age: float | None
    problem: str = ""
    note: str = ""


def read_table(path: str | Path) -> Table:
    """Read ``.xls`` (first sheet with a header row), ``.csv`` or ``.tsv`` as text cells."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "demographics table not found (expected .xls, .csv or .tsv)")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        grid = _xls_rows(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        grid = _text_rows(path, "\t" if suffix == ".tsv" else None)
    elif suffix == ".xlsx":
        raise InputFileError(path, "expected .xls, .csv or .tsv; save the .xlsx sheet as CSV")
    else:
        raise InputFileError(path, f"expected a .xls, .csv or .tsv table, found {path.name}")
    grid = [row for row in grid if any(cell.strip() for cell in row)]
    if not grid:
        raise InputFileError(path, "the table is empty (expected a header row and data rows)")
    header = tuple(cell.strip() for cell in grid[0])
    rows = tuple(
        {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header) if name}
        for row in grid[1:]
    )
    return Table(path, header, rows)


def _text_rows(path: Path, delimiter: str | None) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")  # Excel's CSV export on Windows
    lines = text.splitlines()
    if delimiter is None:
        first = next((ln for ln in lines if ln.strip()), "")
        delimiter = max(",;\t", key=first.count)
    return [list(row) for row in csv.reader(lines, delimiter=delimiter)]


def _xls_rows(path: Path) -> list[list[str]]:
    try:
        import xlrd
    except ImportError as exc:
        raise ConfigError(f"{path}: {XLRD_HINT}") from exc
    try:
        book = xlrd.open_workbook(str(path))
    except Exception as exc:  # xlrd.XLRDError, struct errors, compound-document errors
        raise InputFileError(path, f"not a readable .xls workbook ({exc})") from exc
    sheets = [book.sheet_by_index(i) for i in range(book.nsheets)]
    usable = [s for s in sheets if s.nrows > 1] or sheets
    sheet = usable[0]
    rows = []
    for r in range(sheet.nrows):
        rows.append([_xls_cell(sheet.cell(r, c), book.datemode) for c in range(sheet.ncols)])
    return rows


def _xls_cell(cell: object, datemode: int) -> str:
    import xlrd

    kind, value = cell.ctype, cell.value  # type: ignore[attr-defined]
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return ""
    if kind == xlrd.XL_CELL_NUMBER:
        return repr(float(value))
    if kind == xlrd.XL_CELL_DATE:
        return xlrd.xldate.xldate_as_datetime(value, datemode).date().isoformat()
    if kind == xlrd.XL_CELL_BOOLEAN:
        return str(bool(value))
    return str(value)


def parse_age(text: str) -> tuple[float | None, str]:
    """``(age, "")`` for a valid age in years, else ``(None, why)``."""
    if text.strip().lower() in ("", "na", "n/a", "nan", "none", "unknown"):
        return None, "no age"
    try:
        age = float(text)
    except ValueError:
        return None, f"age is not a number ({text!r})"
    if not math.isfinite(age) or age <= 0 or age > MAX_AGE:
        return None, f"age out of range 0-{MAX_AGE:g} years ({text})"
    return age, ""


def read_ages(
    table: Table,
    id_column: str,
    age_column: str,
    normalise_id: Callable[[str], str | None],
) -> tuple[dict[str, AgeRecord], int]:
    """One :class:`AgeRecord` per subject id of ``table``; also the number of rows skipped
    because their id could not be read (``normalise_id`` returned None)."""
    found: dict[str, list[tuple[int, str]]] = {}
    skipped = 0
    for lineno, row in enumerate(table.rows, start=2):
        sid = normalise_id(row.get(id_column, ""))
        if sid is None:
            skipped += 1
            continue
        found.setdefault(sid, []).append((lineno, row.get(age_column, "")))
    return {sid: _consolidate(entries, table.path.name) for sid, entries in found.items()}, skipped


def _consolidate(entries: list[tuple[int, str]], source: str) -> AgeRecord:
    parsed = [(line, *parse_age(text), text) for line, text in entries]
    valid = [(line, age) for line, age, _, _ in parsed if age is not None]
    where = ", ".join(str(line) for line, *_ in parsed)
    if len(entries) == 1:
        line, age, why, _ = parsed[0]
        return AgeRecord(age, "" if age is not None else f"{why} in {source} (row {line})")
    if not valid:
        return AgeRecord(None, f"no valid age in {source} ({len(entries)} rows: {where})")
    ages = [age for _, age in valid]
    if max(ages) - min(ages) > AGE_AGREEMENT_YEARS:
        listed = ", ".join(f"{age:.2f} (row {line})" for line, age in valid)
        return AgeRecord(None, f"inconsistent ages in {source}: {listed}")
    note = f"{len(entries)} rows in {source} (rows {where}); ages agree, kept {ages[0]:.2f}"
    if len(valid) < len(entries):
        note = f"{len(entries)} rows in {source} (rows {where}), one age given: {ages[0]:.2f}"
    return AgeRecord(ages[0], note=note)


def problem_kind(problem: str) -> str:
    """A short category of an age problem, for summaries (``no age``, ``inconsistent ages``,
    ``invalid age``)."""
    if problem.startswith("inconsistent"):
        return "inconsistent ages"
    if problem.startswith(("no age", "no valid age")):
        return "no age"
    return "invalid age"
