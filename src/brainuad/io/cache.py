"""The preprocessed cache: every model-ready volume of a cohort in one memory-mapped array.

Layout of a cache folder (written by :mod:`brainuad.preprocessing`, read by training, scoring
and prediction)::

    cache.json              format, shape, subject count, settings, versions, fingerprint and
                            the names of the data files below (written last: the commit point)
    volumes-<token>.npy     float32 (N, X, Y, Z), intensities in [0, 1], background 0
    masks-<token>.npy       uint8   (N, X, Y, Z), brain mask (1 inside)
    subjects-<token>.csv    one row per volume, in array order: ``index, subject_id, age, label,
                            split`` plus any QC or provenance columns

Data files carry a random token so that a new version is written beside the old one and
``cache.json`` is switched over atomically: a reader sees either the old or the new cache, never
a mix, and a kill at any moment leaves a valid cache. The *fingerprint* is a hash of the
preprocessing settings only; training records it and refuses a cache with another one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainuad.errors import CacheError
from brainuad.io.atomic import reserve_space, write_json_atomic

CACHE_FORMAT = "brainuad-cache"
CACHE_FORMAT_VERSION = 1
SUBJECT_COLUMNS = ("index", "subject_id", "age", "label", "split")


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """A short stable hash of preprocessing settings (canonical JSON, sorted keys)."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Cache:
    """An opened cache. ``volumes`` and ``masks`` are read-only memory maps."""

    root: Path
    volumes: np.ndarray
    masks: np.ndarray
    subjects: pd.DataFrame
    settings: dict[str, Any]
    fingerprint: str
    meta: dict[str, Any]

    def __len__(self) -> int:
        return int(self.volumes.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape of one volume."""
        return tuple(int(s) for s in self.volumes.shape[1:])  # type: ignore[return-value]

    def indices(self, split: str | None = None, label: int | None = None) -> np.ndarray:
        """Array indices of the subjects in ``split`` (and with ``label``), in cache order."""
        keep = np.ones(len(self.subjects), dtype=bool)
        if split is not None:
            keep &= self.subjects["split"].fillna("").astype(str).to_numpy() == split
        if label is not None:
            keep &= self.subjects["label"].to_numpy() == label
        return np.flatnonzero(keep)

    def with_splits(self, splits: Mapping[str, str]) -> Cache:
        """A copy whose ``split`` column is taken from ``splits`` (subject_id -> split)."""
        missing = [s for s in self.subjects["subject_id"] if s not in splits]
        if missing:
            raise CacheError(
                f"{self.root}: {len(missing)} cached subject(s) have no split assigned "
                f"(first: {missing[0]}); re-run `brainuad split` on the full cohort"
            )
        subjects = self.subjects.copy()
        subjects["split"] = [splits[s] for s in subjects["subject_id"]]
        return Cache(
            self.root,
            self.volumes,
            self.masks,
            subjects,
            self.settings,
            self.fingerprint,
            self.meta,
        )


def open_cache(root: str | Path, *, expected_fingerprint: str | None = None) -> Cache:
    """Open a cache folder read-only; raise :class:`CacheError` if missing or inconsistent."""
    root = Path(root)
    meta_path = root / "cache.json"
    if not meta_path.exists():
        raise CacheError(
            f"{root}: not a brainuad cache (cache.json not found); run `brainuad preprocess` first"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CacheError(f"{meta_path}: corrupt cache record ({exc})") from exc
    if meta.get("format") != CACHE_FORMAT:
        raise CacheError(
            f"{meta_path}: expected format {CACHE_FORMAT!r}, found {meta.get('format')!r}"
        )
    if meta.get("format_version") != CACHE_FORMAT_VERSION:
        raise CacheError(
            f"{meta_path}: cache format version {meta.get('format_version')} is not supported "
            f"(this brainuad reads version {CACHE_FORMAT_VERSION}); re-run `brainuad preprocess`"
        )
    files = meta.get("files", {})
    try:
        volumes = np.load(root / files["volumes"], mmap_mode="r")
        masks = np.load(root / files["masks"], mmap_mode="r")
        subjects = pd.read_csv(root / files["subjects"], dtype={"subject_id": str, "split": str})
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise CacheError(f"{root}: cache data files missing or unreadable ({exc})") from exc
    n = int(meta.get("n_subjects", -1))
    shape = tuple(meta.get("shape", ()))
    if volumes.shape != (n, *shape) or masks.shape != volumes.shape or len(subjects) != n:
        raise CacheError(
            f"{root}: inconsistent cache: cache.json says {n} x {shape}, found volumes "
            f"{volumes.shape}, masks {masks.shape}, {len(subjects)} subject rows"
        )
    fp = meta.get("fingerprint", "")
    if expected_fingerprint is not None and fp != expected_fingerprint:
        raise CacheError(
            f"{root}: preprocessing fingerprint {fp} differs from the expected "
            f"{expected_fingerprint} (the cache was made with other preprocessing settings)"
        )
    if "split" not in subjects:
        subjects["split"] = ""
    subjects["split"] = subjects["split"].fillna("")
    return Cache(root, volumes, masks, subjects, dict(meta.get("settings", {})), fp, meta)


def write_cache(
    root: str | Path,
    volumes: np.ndarray | Sequence[np.ndarray],
    masks: np.ndarray | Sequence[np.ndarray],
    subjects: pd.DataFrame,
    settings: Mapping[str, Any],
    *,
    versions: Mapping[str, str] | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    token: str | None = None,
) -> Cache:
    """Write (or replace) a cache atomically and return it opened.

    ``volumes``/``masks`` are an (N, X, Y, Z) array or a sequence of N same-shape 3D arrays;
    ``subjects`` has at least ``subject_id, age, label`` in the same order. ``token`` names the
    data files (default: random); a caller that derives it from the content gets the same
    file names for the same content, and when ``cache.json`` already records exactly this
    cache nothing is rewritten.
    """
    from brainuad.io.lock import folder_lock

    root = Path(root)
    # one writer at a time; leftovers of a killed write (arrays no cache.json names) go first
    with folder_lock(root, "brainuad cache write", clean="none"):
        remove_orphans(root)
        return _write_cache(root, volumes, masks, subjects, settings, versions, extra_meta, token)


def remove_orphans(root: str | Path) -> list[Path]:
    """Remove the cache arrays of ``root`` that its ``cache.json`` does not name (a write killed
    before it switched ``cache.json`` over); call it only while holding the folder's lock."""
    root = Path(root)
    live = set(_live_meta(root).get("files", {}).values()) if _live_meta(root) else set()
    removed = []
    for pattern in ("volumes-*.npy", "masks-*.npy", "subjects-*.csv"):
        for path in root.glob(pattern):
            if path.name not in live:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    return removed


def _write_cache(  # type: ignore[no-untyped-def]
    root: Path, volumes, masks, subjects, settings, versions, extra_meta, token
) -> Cache:
    root.mkdir(parents=True, exist_ok=True)
    n = len(subjects)
    if len(volumes) != n or len(masks) != n:
        raise ValueError(f"write_cache: {len(volumes)} volumes, {len(masks)} masks, {n} subjects")
    if n == 0:
        raise CacheError(f"{root}: refusing to write an empty cache (no subject was processed)")
    shape = tuple(int(s) for s in np.shape(volumes[0]))
    for col in ("subject_id", "age", "label"):
        if col not in subjects:
            raise ValueError(f"write_cache: subjects table lacks column {col!r}")
    names = _file_names(token or secrets.token_hex(4))
    table = subjects.reset_index(drop=True).copy()
    table.insert(0, "index", np.arange(n)) if "index" not in table else None
    if "split" not in table:
        table["split"] = ""
    meta = {
        "format": CACHE_FORMAT,
        "format_version": CACHE_FORMAT_VERSION,
        "shape": list(shape),
        "n_subjects": n,
        "fingerprint": settings_fingerprint(settings),
        "settings": dict(settings),
        "versions": dict(versions or {}),
        "files": names,
        **dict(extra_meta or {}),
    }
    live = _live_meta(root)
    if live is not None and live.get("files") == names:
        # the live cache has these names: it is this very cache, or (never the case for a
        # content-derived token) another one that must not be overwritten in place
        if live == json.loads(json.dumps(meta, default=str)) and all(
            (root / name).is_file() for name in names.values()
        ):
            return open_cache(root)
        names = _file_names(secrets.token_hex(4))
    written: list[Path] = []
    try:
        for key, arrays, dtype in (("volumes", volumes, np.float32), ("masks", masks, np.uint8)):
            path = root / names[key]
            written.append(path)
            out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, *shape))
            reserve_space(path)  # a full disk: an OSError now, not SIGBUS while writing
            for i in range(n):
                arr = np.asarray(arrays[i])
                if arr.shape != shape:
                    raise ValueError(f"write_cache: volume {i} has shape {arr.shape}, not {shape}")
                out[i] = arr
            out.flush()
            del out
        written.append(root / names["subjects"])
        table.to_csv(root / names["subjects"], index=False)
        previous = _previous_files(root)
        meta["files"] = names
        write_json_atomic(root / "cache.json", meta)
    except BaseException:
        for p in written:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        raise
    for p in previous:
        if p.name not in names.values():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return open_cache(root)


def _file_names(token: str) -> dict[str, str]:
    return {
        "volumes": f"volumes-{token}.npy",
        "masks": f"masks-{token}.npy",
        "subjects": f"subjects-{token}.csv",
    }


def _live_meta(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / "cache.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _previous_files(root: Path) -> list[Path]:
    live = _live_meta(root)
    return [] if live is None else [root / name for name in live.get("files", {}).values()]
