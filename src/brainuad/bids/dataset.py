"""Reading the input BIDS dataset of the BIDS App: participants, sessions, T1w scans, ages.

The layout is indexed by pybids (``BIDSLayout`` with validation on: only files whose names and
folders follow the BIDS specification count; ``dataset_description.json`` with ``BIDSVersion``
is required). Only ``anat`` data is indexed, and with ``--participant-label`` only those
participants' folders, so that an array task of a 40,000-participant dataset indexes its own
participant in a fraction of a second instead of the whole tree.

Ages come from ``participants.tsv`` (``participant_id``, ``age`` in years, ``n/a`` when unknown)
and, for longitudinal data, from ``sub-<label>/sub-<label>_sessions.tsv`` (``session_id``,
``age``), which takes precedence for that session. A scan without an age is screened with what
needs no age (see :mod:`brainuad.bundle.predict`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from brainuad.errors import ConfigError, InputFileError
from brainuad.io.manifest import MAX_AGE, PARTICIPANT_ID, read_dict_rows, read_table_text

INSTALL_HINT = "pip install 'brainuad[bids]'"
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_MISSING = ("", "n/a", "na", "nan")
# datatypes other than anat and folders that are not raw data: never indexed
_IGNORE = (
    r"^/(code|derivatives|sourcedata|stimuli|models|phenotype)(/|$)",
    r"/(func|dwi|fmap|perf|beh|eeg|ieeg|meg|pet|micr|nirs|motion|mrs)/",
    r"/\.",
)


@dataclass(frozen=True)
class BidsScan:
    """One T1-weighted scan. ``scan_id`` is its file name up to ``_T1w`` (``sub-01_ses-1``),
    the id `brainuad predict` gives a BIDS scan too."""

    participant: str
    session: str | None
    image: Path
    relpath: str
    scan_id: str
    age: float | None


@dataclass(frozen=True)
class BidsDataset:
    """The selected participants of a dataset and their T1w scans."""

    root: Path
    participants: tuple[str, ...]
    scans: tuple[BidsScan, ...]
    warnings: tuple[str, ...]

    def scans_of(self, participant: str) -> list[BidsScan]:
        """The scans of one participant (``sub-<label>``), in name order."""
        return [s for s in self.scans if s.participant == participant]


def normalise_labels(labels: Sequence[str] | None, what: str = "participant") -> list[str] | None:
    """``["01", "sub-02"]`` -> ``["01", "02"]``; :class:`ConfigError` for a malformed label."""
    if not labels:
        return None
    prefix = "sub-" if what == "participant" else "ses-"
    out = []
    for raw in labels:
        label = raw.strip()
        label = label[len(prefix) :] if label.startswith(prefix) else label
        if not _LABEL.match(label):
            raise ConfigError(
                f"--{what}-label: expected BIDS labels of letters and digits (e.g. 01 or "
                f"{prefix}01), found {raw!r}"
            )
        out.append(label)
    return sorted(set(out))


def _layout(root: Path, labels: list[str] | None):  # type: ignore[no-untyped-def]
    try:
        from bids import BIDSLayout
        from bids.exceptions import BIDSValidationError
        from bids.layout import BIDSLayoutIndexer
    except ImportError as exc:
        raise ConfigError(
            f"brainuad bids needs pybids ({exc}); install it with {INSTALL_HINT}"
        ) from None
    ignore = [re.compile(p) for p in _IGNORE]
    if labels:
        keep = "|".join(re.escape(label) for label in labels)
        ignore.append(re.compile(rf"^/sub-(?!({keep})(/|$))"))
    try:
        return BIDSLayout(
            root,
            validate=True,
            derivatives=False,
            indexer=BIDSLayoutIndexer(validate=True, ignore=ignore),
        )
    except (BIDSValidationError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        raise InputFileError(
            root, f"not a valid BIDS dataset: {text[0] if text else exc}"
        ) from None


def read_dataset(
    root: str | Path,
    participant_labels: Sequence[str] | None = None,
    session_labels: Sequence[str] | None = None,
) -> BidsDataset:
    """Index ``root`` and return the selected participants' T1w scans with their ages.

    Raises :class:`InputFileError` (not a BIDS dataset, unreadable ``participants.tsv`` or age)
    or :class:`ConfigError` (a requested participant does not exist) with a one-line message.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(root, "BIDS_DIR not found (expected a BIDS dataset folder)")
    labels = normalise_labels(participant_labels)
    sessions = normalise_labels(session_labels, "session")
    folders = sorted(p.name[4:] for p in root.glob("sub-*") if p.is_dir())
    if labels:
        absent = [label for label in labels if label not in folders]
        if absent:
            shown = ", ".join(folders[:10]) + (", ..." if len(folders) > 10 else "")
            raise ConfigError(
                f"--participant-label: {', '.join(absent)} not found in {root} (it has "
                f"{len(folders)} participant folder(s): {shown or 'none'})"
            )
    layout = _layout(root, labels)
    selected = labels or folders
    warnings: list[str] = []
    ages = read_participant_ages(root, warnings)
    query = dict(suffix="T1w", extension=[".nii", ".nii.gz"], datatype="anat")
    if sessions:
        query["session"] = sessions
    files = layout.get(subject=selected, return_type="object", **query) if selected else []
    scans = []
    session_ages: dict[str, dict[str, float | None]] = {}
    for f in sorted(files, key=lambda f: f.relpath):
        entities = f.get_entities()
        participant = f"sub-{entities['subject']}"
        session = f"ses-{entities['session']}" if entities.get("session") else None
        age = ages.get(participant)
        if session is not None:
            if participant not in session_ages:
                session_ages[participant] = read_session_ages(root, participant)
            at_session = session_ages[participant].get(session)
            age = age if at_session is None else at_session
        scans.append(
            BidsScan(
                participant=participant,
                session=session,
                image=Path(f.path),
                relpath=Path(f.relpath).as_posix(),
                scan_id=Path(f.path).name.split("_T1w")[0],
                age=age,
            )
        )
    unknown = [f"sub-{p}" for p in selected if f"sub-{p}" not in ages]
    if ages and unknown:
        warnings.append(
            f"{len(unknown)} participant(s) not in participants.tsv (first: {unknown[0]}): "
            "their ages are unknown"
        )
    return BidsDataset(root, tuple(f"sub-{p}" for p in selected), tuple(scans), tuple(warnings))


def parse_age(value: str, where: str, path: Path) -> float | None:
    """An age in years from a TSV cell (``n/a`` -> None); :class:`InputFileError` otherwise."""
    text = value.strip()
    if text.lower() in _MISSING:
        return None
    try:
        age = float(text)
    except ValueError:
        raise InputFileError(
            path, f"{where}: age must be a number of years, found {text!r}"
        ) from None
    if not math.isfinite(age) or not 0.0 <= age <= MAX_AGE:
        raise InputFileError(path, f"{where}: age must be 0-{MAX_AGE:g} years, found {text}")
    return age


def _read_tsv(path: Path, id_column: str) -> list[dict[str, str]]:
    text = read_table_text(path, "table", "tab-separated")
    header, rows = read_dict_rows([ln for ln in text.splitlines() if ln.strip()], "\t", path)
    if id_column not in header:
        raise InputFileError(
            path,
            f"expected a tab-separated table with a {id_column} column, found columns: "
            f"{', '.join(header) or 'none'}",
        )
    return [{k: v for k, v in row.items() if k} for row in rows]


def read_participant_ages(root: Path, warnings: list[str]) -> dict[str, float | None]:
    """``participants.tsv`` -> ``{participant_id: age or None}`` ({} when there is none)."""
    path = root / "participants.tsv"
    if not path.exists():
        warnings.append("no participants.tsv: every age is unknown (no L_age, no brain-age gap)")
        return {}
    rows = _read_tsv(path, "participant_id")
    if rows and "age" not in rows[0]:
        warnings.append(f"{path} has no age column: every age is unknown")
    ages: dict[str, float | None] = {}
    for lineno, row in enumerate(rows, start=2):
        pid = row["participant_id"].strip()
        if not PARTICIPANT_ID.fullmatch(pid):
            raise InputFileError(path, f"row {lineno}: participant_id must be sub-<label>, {pid!r}")
        if pid in ages:
            raise InputFileError(path, f"row {lineno}: participant {pid} is listed twice")
        ages[pid] = parse_age(row.get("age", ""), f"row {lineno} ({pid})", path)
    return ages


def read_session_ages(root: Path, participant: str) -> dict[str, float | None]:
    """``sub-X/sub-X_sessions.tsv`` ages by ``session_id`` ({} without the file or column)."""
    path = root / participant / f"{participant}_sessions.tsv"
    if not path.exists():
        return {}
    rows = _read_tsv(path, "session_id")
    if not rows or "age" not in rows[0]:
        return {}
    return {
        row["session_id"].strip(): parse_age(row["age"], f"row {i} ({row['session_id']})", path)
        for i, row in enumerate(rows, start=2)
    }
