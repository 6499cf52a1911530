"""Cohort manifests (CSV/TSV) and BIDS folders.

A manifest has one row per scan with the columns ``subject_id``, ``image`` and ``age``, and the
optional columns ``label`` (0 = normal, 1 = anomalous; empty means normal), ``mask`` (a brain
mask), ``split`` (``train``/``val``/``test``) and ``lesion_mask``. Paths are relative to the
manifest's folder. Other columns are kept in :attr:`Subject.extra`.

A BIDS folder is read from ``participants.tsv`` (``participant_id``, ``age``, optional
``label``) and ``sub-*/[ses-*/]anat/*_T1w.nii[.gz]``.

Validation collects every problem of the cohort into one :class:`~brainuad.errors.ManifestError`.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from brainuad.errors import InputFileError, ManifestError
from brainuad.io.atomic import write_text_atomic
from brainuad.io.nifti import is_nifti_path

REQUIRED_COLUMNS = ("subject_id", "image", "age")
OPTIONAL_COLUMNS = ("label", "mask", "split", "lesion_mask")
PATH_COLUMNS = ("image", "mask", "lesion_mask")
SPLITS = ("train", "val", "test")
MAX_AGE = 120.0


@dataclass(frozen=True)
class Subject:
    """One scan of a cohort. ``age`` is ``None`` only when the cohort allows missing ages."""

    subject_id: str
    image: Path
    age: float | None
    label: int = 0
    mask: Path | None = None
    split: str | None = None
    lesion_mask: Path | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Cohort:
    """A validated list of subjects and where they were read from."""

    subjects: tuple[Subject, ...]
    source: Path

    def __len__(self) -> int:
        return len(self.subjects)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.subjects)

    @property
    def ids(self) -> list[str]:
        return [s.subject_id for s in self.subjects]

    def by_id(self) -> dict[str, Subject]:
        return {s.subject_id: s for s in self.subjects}


def read_cohort(path: str | Path, *, require_age: bool = True, check_files: bool = True) -> Cohort:
    """Read a manifest file (``.csv``/``.tsv``) or a BIDS folder, validating every row."""
    path = Path(path)
    if path.is_dir():
        return read_bids(path, require_age=require_age)
    return read_manifest(path, require_age=require_age, check_files=check_files)


def read_manifest(
    path: str | Path, *, require_age: bool = True, check_files: bool = True
) -> Cohort:
    """Read and validate a CSV/TSV manifest; raise :class:`ManifestError` listing all problems."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "manifest not found (expected a CSV/TSV file or a BIDS folder)")
    text = read_table_text(path, "manifest", "CSV or TSV")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ManifestError(path, ["manifest is empty (expected a header and one row per scan)"])
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in lines[0] else ","
    header, rows = read_dict_rows(lines, delimiter, path)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if not require_age and "age" in missing:
        missing.remove("age")
    if missing:
        raise ManifestError(
            path, [f"missing column(s) {', '.join(missing)}; found columns: {', '.join(header)}"]
        )
    return _build_cohort(rows, path, path.parent, require_age=require_age, check_files=check_files)


def read_table_text(path: Path, what: str, kind: str) -> str:
    """The UTF-8 text (a BOM is dropped) of a table file; :class:`InputFileError` otherwise."""
    if not path.is_file():
        raise InputFileError(path, f"expected a {kind} {what} file, found a folder or special file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            path,
            f"{what} is not UTF-8 text at byte {exc.start} (expected {kind}; save it as UTF-8)",
        ) from exc


def read_dict_rows(
    lines: Sequence[str], delimiter: str, path: Path
) -> tuple[list[str], list[dict[str, str]]]:
    """``(header, rows)`` of a delimited table, cells stripped; a row with more fields than the
    header, or a repeated column name, raises :class:`ManifestError` listing the rows."""
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    problems = []
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        problems.append(f"header: column(s) {', '.join(repeated)} appear more than once")
    rows = []
    for lineno, cells in enumerate(reader, start=2):
        if len(cells) > len(header):
            problems.append(
                f"row {lineno}: {len(cells)} fields, the header has {len(header)} (a stray "
                f"{delimiter!r} or a missing quote?)"
            )
            continue
        rows.append({h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)})
    if problems:
        raise ManifestError(path, problems)
    return header, rows


#: a BIDS participant label: ``sub-`` and letters/digits only (no path separators, no dots)
PARTICIPANT_ID = re.compile(r"sub-[A-Za-z0-9]+")


def read_bids(root: str | Path, *, require_age: bool = True) -> Cohort:
    """Read a BIDS dataset: ``participants.tsv`` ages plus every ``*_T1w.nii[.gz]`` in ``anat``."""
    root = Path(root)
    participants = root / "participants.tsv"
    if not participants.exists():
        raise InputFileError(root, "not a BIDS dataset: participants.tsv not found")
    text = read_table_text(participants, "participants table", "tab-separated")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header, table = read_dict_rows(lines, "\t", participants)
    if "participant_id" not in header or (require_age and "age" not in header):
        raise ManifestError(
            participants,
            [f"expected columns participant_id and age, found: {', '.join(header)}"],
        )
    info: dict[str, dict[str, str]] = {}
    bad: list[str] = []
    for lineno, row in enumerate(table, start=2):
        pid = row["participant_id"]
        if not PARTICIPANT_ID.fullmatch(pid):
            bad.append(f"row {lineno}: participant_id must be sub-<letters/digits>, found {pid!r}")
        elif pid in info:
            bad.append(f"row {lineno}: participant {pid} is listed twice")
        else:
            info[pid] = row
    if bad:
        raise ManifestError(participants, bad)
    rows: list[dict[str, str]] = []
    problems: list[str] = []
    for pid, row in sorted(info.items()):
        images = sorted(
            p
            for pattern in ("anat/*_T1w.nii*", "ses-*/anat/*_T1w.nii*")
            for p in (root / pid).glob(pattern)
            if is_nifti_path(p)
        )
        if not images:
            problems.append(f"{pid}: no anat/*_T1w.nii[.gz] found under {root / pid}")
        for img in images:
            sid = img.name.split("_T1w")[0]
            entry = {
                "subject_id": sid,
                "image": str(img.relative_to(root)),
                "age": (row.get("age") or "").strip(),
                "label": (row.get("label") or "").strip(),
                "participant_id": pid,
            }
            lesions = bids_lesion_masks(root, img)
            if len(lesions) > 1:
                found = ", ".join(str(p.relative_to(root)) for p in lesions)
                problems.append(f"{sid}: expected at most one lesion mask, found {found}")
            elif lesions:
                entry["lesion_mask"] = str(lesions[0].relative_to(root))
            rows.append(entry)
    for sub in sorted(p.name for p in root.glob("sub-*") if p.is_dir()):
        if sub not in info:
            problems.append(f"{sub}: folder exists but is not listed in participants.tsv")
    if problems:
        raise ManifestError(participants, problems)
    return _build_cohort(rows, root, root, require_age=require_age, check_files=True)


#: BIDS-derivative file names taken as a scan's lesion mask (the ``label`` entity of a mask or
#: segmentation): ``<scan>[_...]_label-tumor[_...]_mask.nii.gz``, ``..._label-lesion..._dseg...``
LESION_MASK_PATTERN = re.compile(
    r"_label-(tumou?r|lesion)[A-Za-z0-9]*(_[^_]+)*_(mask|dseg)\.nii(\.gz)?$"
)


def bids_lesion_masks(root: Path, image: Path) -> list[Path]:
    """Lesion masks of the T1w ``image`` of a BIDS dataset at ``root``: files of the same scan
    (name prefix up to ``_T1w``) whose ``label`` entity is ``tumor``/``tumour``/``lesion``, next
    to the image or in ``derivatives/<pipeline>/`` at the same relative folder. Brain masks
    (``desc-brain_mask``) have no such label and are never taken."""
    prefix = image.name.split("_T1w")[0]
    rel = image.parent.relative_to(root)
    folders = [image.parent, *sorted((root / "derivatives").glob(f"*/{rel.as_posix()}"))]
    found = []
    for folder in folders:
        for p in sorted(folder.glob(f"{prefix}_*")):
            if p.is_file() and LESION_MASK_PATTERN.search(p.name[len(prefix) :]):
                found.append(p)
    return found


def _build_cohort(
    rows: Sequence[dict[str, str]],
    source: Path,
    base: Path,
    *,
    require_age: bool,
    check_files: bool,
) -> Cohort:
    problems: list[str] = []
    subjects: list[Subject] = []
    seen: dict[str, int] = {}
    if not rows:
        raise ManifestError(source, ["no scans listed (expected one row per scan)"])
    for lineno, row in enumerate(rows, start=2):
        where = f"row {lineno}"
        sid = row.get("subject_id", "")
        if not sid:
            problems.append(f"{where}: empty subject_id")
            continue
        where = f"row {lineno} ({sid})"
        if sid in seen:
            problems.append(f"{where}: duplicate subject_id (first seen on row {seen[sid]})")
        seen.setdefault(sid, lineno)

        paths: dict[str, Path | None] = {}
        for col in PATH_COLUMNS:
            value = row.get(col, "")
            if not value:
                paths[col] = None
                if col == "image":
                    problems.append(f"{where}: empty image path")
                continue
            p = Path(value)
            p = p if p.is_absolute() else base / p
            paths[col] = p
            if check_files and not p.exists():
                problems.append(f"{where}: {col} file not found: {p}")
            elif not is_nifti_path(p):
                problems.append(f"{where}: {col} must be a .nii or .nii.gz file, found {p.name}")

        age = _parse_age(row.get("age", ""), where, require_age, problems)
        label = _parse_label(row.get("label", ""), where, problems)
        split = row.get("split", "") or None
        if split is not None and split not in SPLITS:
            problems.append(f"{where}: split must be one of {', '.join(SPLITS)}, found {split!r}")
        if split == "train" and label == 1:
            problems.append(f"{where}: anomalous scans (label 1) cannot be in the train split")
        extra = {k: v for k, v in row.items() if k not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and k}
        if paths.get("image") is not None:
            subjects.append(
                Subject(
                    subject_id=sid,
                    image=paths["image"],  # type: ignore[arg-type]
                    age=age,
                    label=label,
                    mask=paths.get("mask"),
                    split=split,
                    lesion_mask=paths.get("lesion_mask"),
                    extra=extra,
                )
            )
    if problems:
        raise ManifestError(source, problems)
    return Cohort(tuple(subjects), source)


def _parse_age(value: str, where: str, required: bool, problems: list[str]) -> float | None:
    if value == "" or value.lower() in ("n/a", "na", "nan"):
        if required:
            problems.append(f"{where}: missing age")
        return None
    try:
        age = float(value)
    except ValueError:
        problems.append(f"{where}: age must be a number of years, found {value!r}")
        return None
    if not math.isfinite(age) or age < 0:
        problems.append(f"{where}: age must be >= 0 years, found {value}")
        return None
    if age > MAX_AGE:
        problems.append(f"{where}: age must be <= {MAX_AGE:g} years, found {value}")
        return None
    return age


def _parse_label(value: str, where: str, problems: list[str]) -> int:
    if value == "":
        return 0
    if value in ("0", "1", "0.0", "1.0"):
        return int(float(value))
    problems.append(f"{where}: label must be 0 (normal) or 1 (anomalous), found {value!r}")
    return 0


def write_manifest(path: str | Path, subjects: Iterable[Subject]) -> Path:
    """Write subjects as a CSV manifest (paths relative to the manifest's folder), atomically."""
    path = Path(path)
    subjects = list(subjects)
    base = path.parent.resolve()
    extra_cols = sorted({k for s in subjects for k in s.extra})
    cols = ["subject_id", "image", "age", "label"]
    for opt in ("mask", "split", "lesion_mask"):
        if any(getattr(s, opt) is not None for s in subjects):
            cols.append(opt)
    cols += extra_cols

    def rel(p: Path | None) -> str:
        if p is None:
            return ""
        try:
            return str(Path(p).resolve().relative_to(base))
        except ValueError:
            return str(Path(p).resolve())

    lines = [",".join(cols)]
    for s in subjects:
        values = {
            "subject_id": s.subject_id,
            "image": rel(s.image),
            "age": "" if s.age is None else f"{s.age:g}",
            "label": str(s.label),
            "mask": rel(s.mask),
            "split": s.split or "",
            "lesion_mask": rel(s.lesion_mask),
            **s.extra,
        }
        lines.append(",".join(_csv_cell(values.get(c, "")) for c in cols))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _csv_cell(value: str) -> str:
    value = str(value)
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
