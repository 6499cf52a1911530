"""IXI (healthy adults, three London hospitals) -> a manifest of T1 heads with ages.

Expected input: the T1 archive extracted into one folder (files such as
``IXI002-Guys-0828-T1.nii.gz``; T2/PD/MRA files beside them are ignored; sub-folders are
searched too) and the demographics spreadsheet ``IXI.xls`` (columns ``IXI_ID`` and ``AGE``;
other columns are ignored) or a CSV/TSV export of it.

Subject ids are ``IXI002`` etc.; the hospital (``Guys``, ``HH``, ``IOP``) goes into a ``site``
column. Every scan is healthy (``label`` 0). A scan is left out, and listed in the exclusions
report, when its id is not in the spreadsheet, its age is missing or invalid, its duplicate rows
disagree, or the folder holds several T1 files for it.
"""

from __future__ import annotations

import re
from pathlib import Path

from brainuad.cohorts.build import CohortBuild, Entry
from brainuad.cohorts.tables import problem_kind, read_ages, read_table
from brainuad.errors import InputFileError
from brainuad.io.manifest import Subject

T1_NAME = re.compile(r"^IXI(?P<num>\d{3})-(?P<site>[A-Za-z]+)-(?P<scan>\d{4})-T1\.nii(\.gz)?$")
ID_COLUMNS = ("IXI_ID", "IXI ID", "ID")
AGE_COLUMNS = ("AGE",)


def ixi_id(value: str) -> str | None:
    """``"2"``, ``"2.0"``, ``"002"`` or ``"IXI002"`` -> ``"IXI002"``; None when unreadable."""
    text = value.strip().upper().removeprefix("IXI")
    try:
        number = float(text)
    except ValueError:
        return None
    if not number.is_integer() or number < 0:
        return None
    return f"IXI{int(number):03d}"


def find_t1(t1_dir: Path) -> tuple[dict[str, list[Path]], dict[str, str]]:
    """T1 files by subject id, and the site of each id (from the file name)."""
    if not t1_dir.is_dir():
        raise InputFileError(t1_dir, "IXI T1 folder not found (expected IXI???-*-????-T1.nii.gz)")
    files: dict[str, list[Path]] = {}
    sites: dict[str, str] = {}
    for path in sorted(t1_dir.rglob("IXI*-T1.nii*")):
        match = T1_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        sid = f"IXI{match['num']}"
        files.setdefault(sid, []).append(path)
        sites[sid] = match["site"]
    if not files:
        raise InputFileError(
            t1_dir, "no IXI T1 files found (expected names like IXI002-Guys-0828-T1.nii.gz)"
        )
    return files, sites


def build_ixi(t1_dir: str | Path, demographics: str | Path) -> CohortBuild:
    """Match IXI T1 heads with their ages; see the module docstring."""
    t1_dir = Path(t1_dir)
    files, sites = find_t1(t1_dir)
    table = read_table(demographics)
    ages, unreadable = read_ages(
        table,
        table.column(ID_COLUMNS, "subject id"),
        table.column(AGE_COLUMNS, "age"),
        ixi_id,
    )
    subjects: list[Subject] = []
    entries: list[Entry] = []
    for sid, paths in sorted(files.items()):
        image = str(paths[0])
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            entries.append(
                Entry(sid, image, "excluded", f"several T1 files: {names}", "several T1 files")
            )
            continue
        record = ages.get(sid)
        if record is None:
            reason = f"not listed in {table.path.name}"
            entries.append(Entry(sid, image, "excluded", reason, f"not in {table.path.name}"))
            continue
        if record.age is None:
            entries.append(
                Entry(sid, image, "excluded", record.problem, problem_kind(record.problem))
            )
            continue
        if record.note:
            entries.append(Entry(sid, image, "kept", record.note, "duplicate rows, same age"))
        subjects.append(
            Subject(
                subject_id=sid,
                image=paths[0],
                age=record.age,
                label=0,
                extra={"site": sites[sid], "dataset": "IXI"},
            )
        )
    notes = []
    without_image = sorted(set(ages) - set(files))
    if without_image:
        notes.append(
            f"{len(without_image)} id(s) of {table.path.name} have no T1 file in {t1_dir} "
            f"(e.g. {without_image[0]})"
        )
    if unreadable:
        notes.append(f"{unreadable} row(s) of {table.path.name} have no readable IXI_ID")
    return CohortBuild("IXI", tuple(subjects), tuple(entries), group="site", notes=tuple(notes))
