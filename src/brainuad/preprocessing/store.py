"""Files of the preprocessing work folder and the cache's extra files.

* ``subjects/<id>.npz``: one finished subject (``volume``, ``mask``, optional ``lesion`` and
  ``lesion_fraction`` (uint8 steps of 1/255, :mod:`.lesions`) and a
  JSON ``meta`` record with the input hash, QC values and geometry), written atomically.
* ``geometry-<token>.json``, ``lesions-<token>.npy`` and ``lesion_fractions-<token>.npy``:
  written beside the cache before its ``cache.json`` is switched over and named in
  ``cache.json["extra_files"]``; :func:`load_geometry`, :func:`load_lesions` and
  :func:`load_lesion_fractions` read them back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainuad.errors import CacheError
from brainuad.io.atomic import atomic_path, reserve_space
from brainuad.io.cache import Cache, open_cache
from brainuad.preprocessing.config import PreprocessConfig
from brainuad.preprocessing.geometry import SubjectGeometry
from brainuad.preprocessing.lesions import FRACTION_SCALE, quantise_fraction

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
_CHUNK = 1 << 20


def subject_filename(subject_id: str) -> str:
    """A file name for a subject id (ids with unusual characters get a hash suffix)."""
    if _SAFE.match(subject_id):
        return f"{subject_id}.npz"
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", subject_id)[:80].lstrip(".") or "subject"
    digest = hashlib.sha256(subject_id.encode("utf-8")).hexdigest()[:10]
    return f"{clean}-{digest}.npz"


def input_hash(
    fingerprint: str, image: Path, mask: Path | None = None, lesion: Path | None = None
) -> str:
    """SHA-256 of the settings fingerprint and the bytes of the subject's input files."""
    h = hashlib.sha256(fingerprint.encode("utf-8"))
    for role, path in (("image", image), ("mask", mask), ("lesion", lesion)):
        h.update(f"\0{role}\0".encode())
        if path is None:
            continue
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def write_subject(path: str | Path, result: Any, digest: str, subject_id: str) -> dict[str, Any]:
    """Save a :class:`PreprocessedSubject` atomically; returns its ``meta`` record."""
    meta = {
        "subject_id": subject_id,
        "input_hash": digest,
        "qc": {k: _plain(v) for k, v in result.qc.items()},
        "geometry": result.geometry.to_dict(),
    }
    arrays = {"volume": result.volume.astype(np.float32), "mask": result.mask.astype(np.uint8)}
    if result.lesion is not None:
        arrays["lesion"] = result.lesion.astype(np.uint8)
    if getattr(result, "lesion_fraction", None) is not None:
        arrays["lesion_fraction"] = quantise_fraction(result.lesion_fraction)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)
    return meta


def read_meta(path: str | Path) -> dict[str, Any] | None:
    """The ``meta`` record of a subject file, or None when missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return json.loads(str(npz["meta"]))
    except (OSError, KeyError, ValueError, EOFError):
        return None


class _LazyStack(Sequence):
    def __init__(self, files: Sequence[Path], key: str) -> None:
        self.files = list(files)
        self.key = key

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        with np.load(self.files[i], allow_pickle=False) as npz:
            return np.asarray(npz[self.key])


class LazyArrays:
    """Volumes and masks of subject files, loaded one at a time (for ``write_cache``)."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.volumes = _LazyStack(files, "volume")
        self.masks = _LazyStack(files, "mask")


def write_lesions(
    path: Path, files: Sequence[Path], shape: tuple[int, int, int], *, fraction: bool = False
) -> None:
    """Stack the subjects' lesion masks (zeros where a subject has none) into an .npy file.

    ``fraction=True`` stacks the stored lesion fractions instead (uint8 steps of 1/255; a
    subject file written before fractions were kept contributes its binary mask as 0 or 255).
    """
    with atomic_path(path, suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), *shape))
        reserve_space(tmp)  # a full disk: an OSError now, not SIGBUS while writing
        for i, f in enumerate(files):
            with np.load(f, allow_pickle=False) as npz:
                if fraction and "lesion_fraction" in npz.files:
                    out[i] = npz["lesion_fraction"]
                elif "lesion" in npz.files:
                    out[i] = npz["lesion"] * (FRACTION_SCALE if fraction else 1)
                else:
                    out[i] = 0
        out.flush()
        del out


def remove_stale_extras(root: Path, keep: set[str]) -> None:
    """Delete geometry/lesion/comparability files of earlier cache versions."""
    patterns = (
        "geometry-*.json",
        "lesions-*.npy",
        "lesion_fractions-*.npy",
        "comparability-*.json",
    )
    for pattern in patterns:
        for p in root.glob(pattern):
            if p.name not in keep:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


def _cache(cache_or_root: Cache | str | Path) -> Cache:
    return cache_or_root if isinstance(cache_or_root, Cache) else open_cache(cache_or_root)


def load_geometry(cache_or_root: Cache | str | Path) -> dict[str, SubjectGeometry]:
    """Per-subject geometry (subject_id -> :class:`SubjectGeometry`) of a cache."""
    cache = _cache(cache_or_root)
    name = cache.meta.get("extra_files", {}).get("geometry")
    if not name:
        raise CacheError(
            f"{cache.root}: cache has no geometry record; re-run `brainuad preprocess`"
        )
    try:
        raw = json.loads((cache.root / name).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CacheError(
            f"{cache.root / name}: geometry record missing or corrupt ({exc})"
        ) from exc
    return {sid: SubjectGeometry.from_dict(values) for sid, values in raw.items()}


def load_lesions(cache_or_root: Cache | str | Path) -> np.ndarray | None:
    """Lesion masks (N, X, Y, Z) uint8 memmap in cache order, or None when the cohort had none."""
    cache = _cache(cache_or_root)
    name = cache.meta.get("extra_files", {}).get("lesions")
    return None if not name else _load_per_voxel(cache, name, "lesion masks")


def _load_per_voxel(cache: Cache, name: str, what: str) -> np.ndarray:
    """The memory-mapped per-voxel array ``name`` of ``cache``, checked against its volumes."""
    try:
        arr = np.load(cache.root / name, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise CacheError(f"{cache.root / name}: {what} missing or unreadable ({exc})") from exc
    if arr.shape != cache.volumes.shape:
        raise CacheError(
            f"{cache.root / name}: {what} have shape {arr.shape}, volumes {cache.volumes.shape}"
        )
    return arr


class LesionFractions:
    """Per-subject lesion fractions of a cache, read lazily: ``fractions[i]`` is float32 in
    [0, 1] of shape (X, Y, Z); the stored array (uint8 steps of 1/255, or a binary mask) stays
    memory-mapped."""

    def __init__(self, stored: np.ndarray, scale: float) -> None:
        self.stored, self.scale = stored, float(scale)

    def __len__(self) -> int:
        return int(self.stored.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.stored.shape)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.stored[i], dtype=np.float32) / np.float32(self.scale)


def load_lesion_fractions(cache_or_root: Cache | str | Path) -> LesionFractions | None:
    """Lesion fractions in cache order (see :class:`LesionFractions`), None without lesions.

    A cache written before fractions were kept gives its binary masks as 0/1 fractions.
    """
    cache = _cache(cache_or_root)
    name = cache.meta.get("extra_files", {}).get("lesion_fractions")
    if not name:
        binary = load_lesions(cache)
        return None if binary is None else LesionFractions(binary, 1.0)
    return LesionFractions(_load_per_voxel(cache, name, "lesion fractions"), FRACTION_SCALE)


def versions(config: PreprocessConfig) -> dict[str, str]:
    """Versions of everything that shapes the output (recorded in the cache)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["brainuad", "numpy", "scipy", "SimpleITK", "nibabel", "nilearn"]
    if config.skull_strip == "deepbet":
        names += ["deepbet", "torch"]
    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def template_name(config: PreprocessConfig) -> str | None:
    """Name of the registration template, or None when registration is off."""
    from brainuad.preprocessing.template import TEMPLATE_NAME

    return TEMPLATE_NAME if config.register else None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
