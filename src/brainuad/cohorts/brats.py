"""BraTS (gliomas; 2018, 2019 and 2020 training data) -> a manifest of T1 scans with ages.

Layouts recognised (found anywhere under the folder given):

* **2020**: ``MICCAI_BraTS2020_TrainingData/BraTS20_Training_001/BraTS20_Training_001_t1.nii.gz``
  with ``..._seg.nii.gz``; ages in ``survival_info.csv`` (``Brats20ID``, ``Age``); grades in
  ``name_mapping.csv`` (``Grade``, ``BraTS_2020_subject_ID``) when present.
* **2018/2019**: ``HGG/`` and ``LGG/`` folders of ``BraTS19_CBICA_AAB_1/BraTS19_CBICA_AAB_1_t1
  .nii.gz`` (and ``_seg``); ages in ``survival_data.csv`` (``BraTS19ID`` or ``BraTS18ID``,
  ``Age``); the grade is the folder's name.

The image is the native T1 (``_t1``), never the contrast-enhanced ``_t1ce``. The segmentation
becomes ``lesion_mask`` (whole tumour: every label > 0, as the preprocessing reads it); a subject
without one is kept with a note. Every scan is anomalous (``label`` 1). Ages exist only for part
of each release (the paper used 240 of 335 BraTS 2019 scans): the others are left out and listed
in the exclusions report, never given an age.
"""

from __future__ import annotations

import re
from pathlib import Path

from brainuad.cohorts.build import CohortBuild, Entry
from brainuad.cohorts.tables import problem_kind, read_ages, read_table
from brainuad.errors import InputFileError
from brainuad.io.manifest import Subject
from brainuad.io.nifti import is_nifti_path

T1_NAME = re.compile(r"^(?P<id>.+)_t1\.nii(\.gz)?$", re.IGNORECASE)
AGE_FILES = ("survival_info.csv", "survival_data.csv", "survival_evaluation.csv")
ID_COLUMNS = ("Brats20ID", "BraTS20ID", "BraTS19ID", "BraTS18ID", "Brats18ID", "BraTS_ID", "ID")
GRADES = ("HGG", "LGG")
RELEASES = {"brats20_": "BraTS2020", "brats19_": "BraTS2019", "brats18_": "BraTS2018"}


def find_ages_file(brats_dir: Path) -> Path:
    """The survival/ages CSV inside ``brats_dir`` (searched two levels deep)."""
    for depth in ("", "*/", "*/*/"):
        for name in AGE_FILES:
            hits = sorted(brats_dir.glob(depth + name))
            if hits:
                return hits[0]
    raise InputFileError(
        brats_dir,
        f"no ages file ({' or '.join(AGE_FILES)}) found inside; pass it with --ages",
    )


def find_scans(brats_dir: Path) -> dict[str, list[Path]]:
    """Native T1 files (``*_t1.nii[.gz]``) by subject id."""
    if not brats_dir.is_dir():
        raise InputFileError(brats_dir, "BraTS folder not found")
    scans: dict[str, list[Path]] = {}
    for path in sorted(brats_dir.rglob("*")):
        match = T1_NAME.match(path.name)
        if match is not None and path.is_file():
            scans.setdefault(match["id"], []).append(path)
    if not scans:
        raise InputFileError(
            brats_dir,
            "no BraTS T1 files found (expected <subject>/<subject>_t1.nii.gz, e.g. "
            "BraTS20_Training_001/BraTS20_Training_001_t1.nii.gz)",
        )
    return scans


def find_segmentation(t1: Path, subject_id: str) -> Path | None:
    """``<id>_seg.nii[.gz]`` beside the T1, else the one other ``*seg*`` NIfTI of the folder
    (BraTS 2020 names one subject's file ``W39_1998.09.19_Segm.nii``)."""
    for suffix in (".nii.gz", ".nii"):
        candidate = t1.parent / f"{subject_id}_seg{suffix}"
        if candidate.is_file():
            return candidate
    others = [
        p
        for p in t1.parent.iterdir()
        if p.is_file() and is_nifti_path(p) and "seg" in p.name.lower() and p != t1
    ]
    return others[0] if len(others) == 1 else None


def _grades(brats_dir: Path, scans: dict[str, list[Path]]) -> dict[str, str]:
    grades: dict[str, str] = {}
    for sid, paths in scans.items():
        parts = {p.upper() for p in paths[0].relative_to(brats_dir).parts[:-1]}
        for grade in GRADES:
            if grade in parts:
                grades[sid] = grade
    mapping = sorted(brats_dir.rglob("name_mapping.csv"))
    if mapping:
        table = read_table(mapping[0])
        lower = {h.lower(): h for h in table.header}
        id_col = next((lower[k] for k in lower if k.startswith("brats_2020_subject")), None)
        if id_col and "grade" in lower:
            for row in table.rows:
                sid = row.get(id_col, "").strip()
                if sid in scans and row.get(lower["grade"]):
                    grades.setdefault(sid, row[lower["grade"]].strip())
    return grades


def release_of(subject_id: str) -> str:
    """``BraTS20_Training_001`` -> ``BraTS2020`` (``BraTS`` when the prefix is unknown)."""
    lower = subject_id.lower()
    return next((name for prefix, name in RELEASES.items() if lower.startswith(prefix)), "BraTS")


def build_brats(brats_dir: str | Path, ages: str | Path | None = None) -> CohortBuild:
    """Match BraTS T1 scans with their ages and segmentations; see the module docstring."""
    brats_dir = Path(brats_dir)
    scans = find_scans(brats_dir)
    ages_path = Path(ages) if ages is not None else find_ages_file(brats_dir)
    table = read_table(ages_path)
    records, unreadable = read_ages(
        table,
        table.column(ID_COLUMNS, "subject id"),
        table.column(("Age",), "age"),
        lambda v: v.strip() or None,
    )
    grades = _grades(brats_dir, scans)
    subjects: list[Subject] = []
    entries: list[Entry] = []
    for sid, paths in sorted(scans.items()):
        image = str(paths[0])
        if len(paths) > 1:
            names = ", ".join(str(p.relative_to(brats_dir)) for p in paths)
            entries.append(
                Entry(sid, image, "excluded", f"several T1 files: {names}", "several T1 files")
            )
            continue
        record = records.get(sid)
        if record is None or record.age is None:
            reason = record.problem if record else f"no age in {table.path.name}"
            entries.append(Entry(sid, image, "excluded", reason, problem_kind(reason)))
            continue
        if record.note:
            entries.append(Entry(sid, image, "kept", record.note, "duplicate rows, same age"))
        seg = find_segmentation(paths[0], sid)
        if seg is None:
            reason = f"no segmentation ({sid}_seg.nii.gz) beside the T1: no lesion mask"
            entries.append(Entry(sid, image, "kept", reason, "no segmentation"))
        extra = {"dataset": release_of(sid), "grade": grades.get(sid, "")}
        subjects.append(Subject(sid, paths[0], record.age, 1, lesion_mask=seg, extra=extra))
    notes = []
    orphans = sorted(set(records) - set(scans))
    if orphans:
        notes.append(
            f"{len(orphans)} id(s) of {table.path.name} have no T1 file under {brats_dir} "
            f"(e.g. {orphans[0]})"
        )
    if unreadable:
        notes.append(f"{unreadable} row(s) of {table.path.name} have an empty subject id")
    return CohortBuild("BraTS", tuple(subjects), tuple(entries), group="grade", notes=tuple(notes))
