"""Age-stratified train/validation/test splits (paper §2.1).

Healthy scans are split into train/val/test, anomalous scans into val/test only (a model is
trained on healthy scans alone). Each group is sorted by age and the split labels are dealt out
in proportion along that order, then shuffled within short runs of neighbouring ages, so every
split covers the whole age range with nearly the same distribution. Deterministic for a seed.

Default proportions are the paper's: 1255/80/400 healthy and 40/200 anomalous scans.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainuad.errors import ConfigError, InputFileError
from brainuad.io.atomic import write_text_atomic
from brainuad.io.manifest import SPLITS, Cohort

PAPER_HEALTHY = (1255, 80, 400)
PAPER_ANOMALOUS = (40, 200)


@dataclass(frozen=True)
class SplitSpec:
    """Split sizes: counts (ints summing to the group size) or proportions (any positive floats,
    normalised). ``healthy`` is (train, val, test), ``anomalous`` is (val, test)."""

    healthy: tuple[float, float, float] = PAPER_HEALTHY
    anomalous: tuple[float, float] = PAPER_ANOMALOUS
    seed: int = 0


def parse_sizes(text: str, n_parts: int, what: str) -> tuple[float, ...]:
    """Parse ``"1255,80,400"`` or ``"0.7,0.1,0.2"`` into a tuple of ``n_parts`` numbers."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise ConfigError(
            f"{what}: expected {n_parts} comma-separated numbers, found {text!r}"
        ) from exc
    finite = all(math.isfinite(v) for v in values)
    if len(values) != n_parts or not finite or any(v < 0 for v in values) or sum(values) <= 0:
        raise ConfigError(
            f"{what}: expected {n_parts} non-negative comma-separated numbers (finite, not all "
            f"zero), found {text!r}"
        )
    return values


def allocate(n: int, sizes: Sequence[float], *, min_each: int = 0) -> list[int]:
    """Turn sizes (counts summing to ``n``, or proportions) into integer counts summing to ``n``.

    Counts that are all integers and sum to ``n`` are used as they are; anything else is taken as
    proportions and rounded by largest remainder, giving each non-zero part at least ``min_each``
    when ``n`` allows.
    """
    sizes = [float(s) for s in sizes]
    if all(s.is_integer() for s in sizes) and int(sum(sizes)) == n:
        return [int(s) for s in sizes]
    total = sum(sizes)
    raw = [n * s / total for s in sizes]
    counts = [int(np.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    # guarantee a minimum for requested non-empty parts, taking from the largest part
    for i, s in enumerate(sizes):
        while s > 0 and counts[i] < min_each and max(counts) > min_each:
            j = int(np.argmax(counts))
            if j == i:
                break
            counts[j] -= 1
            counts[i] += 1
    return counts


def stratified_assign(
    ages: np.ndarray, counts: Sequence[int], names: Sequence[str], rng: np.random.Generator
) -> np.ndarray:
    """Assign ``names[k]`` to ``counts[k]`` items, stratified by ``ages``; returns object array."""
    n = len(ages)
    if sum(counts) != n:
        raise ValueError(f"counts {list(counts)} do not sum to {n}")
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    # sort by age, random order among equal ages
    order = np.lexsort((rng.random(n), np.asarray(ages, dtype=float)))
    # deal labels along the age order so that each prefix holds the target proportions
    targets = np.asarray(counts, dtype=float) / n
    given = np.zeros(len(counts))
    seq = np.empty(n, dtype=int)
    for pos in range(n):
        deficit = targets * (pos + 1) - given
        deficit[given >= np.asarray(counts)] = -np.inf
        k = int(np.argmax(deficit))
        seq[pos] = k
        given[k] += 1
    # shuffle within windows of neighbouring ages so membership is random, strata kept
    nonzero = [c for c in counts if c > 0]
    window = max(2, int(round(n / min(nonzero)))) if nonzero else n
    for start in range(0, n, window):
        block = seq[start : start + window]
        seq[start : start + window] = rng.permutation(block)
    out[order] = np.asarray(names, dtype=object)[seq]
    return out


def assign_splits(cohort: Cohort, spec: SplitSpec = SplitSpec()) -> dict[str, str]:
    """Map every subject id of ``cohort`` to ``train``, ``val`` or ``test``."""
    rng = np.random.default_rng(spec.seed)
    ids = np.array(cohort.ids, dtype=object)
    ages = np.array([np.nan if s.age is None else s.age for s in cohort], dtype=float)
    labels = np.array([s.label for s in cohort], dtype=int)
    if np.isnan(ages).any():
        missing = ids[np.isnan(ages)][0]
        raise ConfigError(f"{cohort.source}: age is required for splitting (missing for {missing})")
    result: dict[str, str] = {}
    for label, sizes, names in ((0, spec.healthy, SPLITS), (1, spec.anomalous, SPLITS[1:])):
        sel = np.flatnonzero(labels == label)
        if len(sel) == 0:
            continue
        counts = allocate(len(sel), sizes, min_each=1 if len(sel) >= len(names) else 0)
        assigned = stratified_assign(ages[sel], counts, names, rng)
        result.update(zip(ids[sel].tolist(), assigned.tolist(), strict=True))
    return result


def write_splits(path: str | Path, cohort: Cohort, splits: Mapping[str, str]) -> Path:
    """Write ``subject_id,split,label,age`` rows (cohort order) to a CSV file, atomically."""
    lines = ["subject_id,split,label,age"]
    for s in cohort:
        age = "" if s.age is None else f"{s.age:g}"
        lines.append(f"{s.subject_id},{splits[s.subject_id]},{s.label},{age}")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return Path(path)


def read_splits(path: str | Path) -> dict[str, str]:
    """Read a splits CSV (``subject_id,split,...``) into subject_id -> split."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "splits file not found (make one with `brainuad split`)")
    if not path.is_file():
        raise InputFileError(path, "expected a splits CSV file, found a folder")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(path, "splits file is not UTF-8 text (expected CSV)") from exc
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0].split(",")] if lines else []
    if "subject_id" not in header or "split" not in header:
        raise InputFileError(path, f"expected columns subject_id and split, found {header}")
    i_id, i_split = header.index("subject_id"), header.index("split")
    out: dict[str, str] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        if len(cells) != len(header):
            raise InputFileError(
                path,
                f"row {lineno}: expected {len(header)} fields as the header, found {len(cells)}",
            )
        sid, split = cells[i_id].strip(), cells[i_split].strip()
        if split not in SPLITS:
            raise InputFileError(
                path, f"row {lineno}: split must be train/val/test, found {split!r}"
            )
        if sid in out:
            raise InputFileError(path, f"row {lineno}: subject {sid} is listed twice")
        out[sid] = split
    return out
