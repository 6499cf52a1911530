"""Shards of a cohort and the part folders they are preprocessed into.

``brainuad preprocess MANIFEST --out CACHE --shard I/N`` preprocesses a deterministic 1/N of the
subjects into ``CACHE/parts/I-of-N/``::

    subjects/<id>.npz   one finished subject each (the same files as CACHE/subjects/)
    part.json           written last (the shard's commit point): shard, settings and their
                        fingerprint, tool versions, the cohort's digest and every assigned
                        subject's manifest row, input hash and outcome
    errors.csv          the shard's failed subjects
    .brainuad.lock      held while the shard runs (:mod:`brainuad.io.lock`)

Assignment: the subjects sorted by ``subject_id`` are dealt round-robin, the subject of rank
``r`` to shard ``r mod N + 1``, so that the shards differ in size by at most one subject and
the split does not depend on the manifest's row order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainuad.errors import CacheError, ConfigError
from brainuad.io.atomic import temp_prefix
from brainuad.io.lock import folder_lock
from brainuad.io.manifest import Cohort, Subject
from brainuad.preprocessing import store

PARTS_DIR = "parts"
PART_RECORD = "part.json"
PART_FORMAT = "brainuad-cache-part"
PART_FORMAT_VERSION = 1
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ConfigError(
                f"--shard: expected I/N with 1 <= I <= N, found {self.index}/{self.count}"
            )

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """``"2/8"`` -> ``ShardSpec(2, 8)``; :class:`ConfigError` for anything else."""
        match = _SPEC.match(str(text))
        if not match:
            raise ConfigError(f"--shard: expected I/N (e.g. 2/8, 1-based), found {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def name(self) -> str:
        """The part folder's name, e.g. ``02-of-16``."""
        width = len(str(self.count))
        return f"{self.index:0{width}d}-of-{self.count}"

    def positions(self, cohort: Cohort) -> list[int]:
        """Cohort positions (row order) of this shard's subjects, in cohort order."""
        ranked = sorted(range(len(cohort)), key=lambda i: cohort.subjects[i].subject_id)
        mine = {pos for rank, pos in enumerate(ranked) if rank % self.count == self.index - 1}
        return sorted(mine)


def parts_root(cache_dir: str | Path) -> Path:
    """``CACHE/parts``."""
    return Path(cache_dir) / PARTS_DIR


def part_dir(cache_dir: str | Path, spec: ShardSpec) -> Path:
    """``CACHE/parts/I-of-N``."""
    return parts_root(cache_dir) / spec.name


def part_folders(cache_dir: str | Path) -> list[Path]:
    """Every folder under ``CACHE/parts`` (finished or not), sorted by name."""
    root = parts_root(cache_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def subject_row(subject: Subject) -> dict[str, Any]:
    """The manifest fields of a subject that the cache records (plain JSON values)."""
    return {
        "subject_id": subject.subject_id,
        "image": str(subject.image),
        "age": subject.age,
        "label": subject.label,
        "split": subject.split,
        "mask": None if subject.mask is None else str(subject.mask),
        "lesion_mask": None if subject.lesion_mask is None else str(subject.lesion_mask),
    }


def subject_from_row(row: dict[str, Any]) -> Subject:
    """The inverse of :func:`subject_row`."""
    return Subject(
        subject_id=str(row["subject_id"]),
        image=Path(row["image"]),
        age=None if row.get("age") is None else float(row["age"]),
        label=int(row.get("label") or 0),
        mask=None if not row.get("mask") else Path(row["mask"]),
        split=row.get("split") or None,
        lesion_mask=None if not row.get("lesion_mask") else Path(row["lesion_mask"]),
    )


def cohort_digest(cohort: Cohort) -> str:
    """SHA-256 of the cohort's recorded rows in order: shards of one cohort share it."""
    blob = json.dumps([subject_row(s) for s in cohort], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def read_part(folder: Path) -> dict[str, Any]:
    """The ``part.json`` of a part folder; :class:`CacheError` when missing or not a part."""
    path = folder / PART_RECORD
    if not path.is_file():
        raise CacheError(
            f"{folder}: no {PART_RECORD} (the shard did not finish); re-run its "
            "`brainuad preprocess ... --shard I/N` or delete the folder"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CacheError(f"{path}: unreadable part record ({exc})") from exc
    if record.get("format") != PART_FORMAT or record.get("format_version") != PART_FORMAT_VERSION:
        raise CacheError(
            f"{path}: expected a {PART_FORMAT} record version {PART_FORMAT_VERSION}, found "
            f"{record.get('format')!r} version {record.get('format_version')!r}"
        )
    return record


@contextlib.contextmanager
def lock_parts(folders: Sequence[Path], command: str) -> Iterator[None]:
    """Hold the lock of every part folder (a shard still running raises BusyError)."""
    with contextlib.ExitStack() as stack:
        for folder in folders:
            stack.enter_context(folder_lock(folder, command))
        yield


def link_into(src: Path, dest: Path) -> None:
    """Put ``src`` at ``dest`` atomically: a hard link where possible, else a copy."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.samefile(src, dest):
            return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{temp_prefix(dest.name)}{secrets.token_hex(4)}.tmp")
    try:
        try:
            os.link(src, tmp)
        except OSError:  # another filesystem, or links not allowed
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def find_finished(filename: str, digest: str, folders: Sequence[Path]) -> Path | None:
    """The first ``folder/filename`` whose recorded input hash is ``digest``."""
    for folder in folders:
        path = folder / filename
        if path.is_file():
            meta = store.read_meta(path)
            if meta is not None and meta.get("input_hash") == digest:
                return path
    return None


def absorbed(folder: Path, work: Path) -> bool:
    """True when every subject file of a part folder is also in ``work`` with the same hash."""
    for path in (folder / "subjects").glob("*.npz"):
        meta = store.read_meta(path)
        if meta is None:
            continue  # a torn file of a killed shard: nothing to keep
        if find_finished(path.name, meta.get("input_hash", ""), [work]) is None:
            return False
    return True


def remove_folders(cache_dir: Path, folders: Sequence[Path]) -> None:
    """Delete part folders. All of them go in one step (``parts/`` is renamed away, then
    removed), so that a kill never leaves a partial set that a merge would take for missing
    shards; a subset goes folder by folder."""
    root = parts_root(cache_dir)
    if root.is_dir() and {f.name for f in folders} == {f.name for f in part_folders(cache_dir)}:
        with contextlib.suppress(FileNotFoundError):
            os.replace(root, cache_dir / f".{PARTS_DIR}.removed-{secrets.token_hex(4)}")
    else:
        for folder in folders:
            trash = folder.parent / f".{folder.name}.removed-{secrets.token_hex(4)}"
            with contextlib.suppress(FileNotFoundError):
                os.replace(folder, trash)
    for leftover in [*Path(cache_dir).glob(f".{PARTS_DIR}.removed-*"), *root.glob(".*.removed-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()  # only when empty
