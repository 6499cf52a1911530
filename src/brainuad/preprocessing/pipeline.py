"""Preprocess a cohort into the cache: parallel, incremental, never half-written.

Layout of ``CACHE_DIR`` after :func:`preprocess_cohort`::

    cache.json, volumes-*.npy, masks-*.npy, subjects-*.csv   the cache (brainuad.io.cache)
    geometry-<token>.json    per subject: scan grid, registration and model grid (SubjectGeometry)
    lesions-<token>.npy      uint8 (N, X, Y, Z) lesion masks (only when the manifest has some)
    comparability-<token>.json  were healthy and anomalous scans preprocessed alike?
                             (:mod:`brainuad.preprocessing.comparability`)
    subjects/<id>.npz        one finished subject each (arrays + records + input hash)
    errors.csv               subject_id, image, error of every subject that failed this run
    qc/montage.png           mid-slices of every subject (with ``qc=True``)

Every subject runs in a worker process and its result is written atomically to
``subjects/<id>.npz`` as soon as it is done, keyed by an *input hash* (SHA-256 of the image, mask
and lesion-mask bytes and of the settings fingerprint). A re-run reuses every subject whose hash
is unchanged and processes only new or changed ones; a kill loses at most the subjects in
flight. The cache arrays are then rebuilt from the subject files and ``cache.json`` is switched
over last, so readers see the old or the new cache, never a mix.
"""

from __future__ import annotations

import contextlib
import csv
import io
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from brainuad.errors import CacheError, ConfigError
from brainuad.io.atomic import write_json_atomic, write_text_atomic
from brainuad.io.cache import settings_fingerprint, write_cache
from brainuad.io.manifest import Cohort, read_cohort
from brainuad.preprocessing import store
from brainuad.preprocessing.comparability import ComparabilityCheck, check_comparability
from brainuad.preprocessing.config import PreprocessConfig
from brainuad.preprocessing.qc import QC_COLUMNS, qc_flags, summarise_steps, write_montage
from brainuad.preprocessing.workers import Task, run_tasks

PIPELINE_VERSION = 1


@dataclass(frozen=True)
class SubjectFailure:
    """A subject that could not be preprocessed, and why (one line)."""

    subject_id: str
    image: str
    error: str


@dataclass(frozen=True)
class PreprocessReport:
    """What :func:`preprocess_cohort` did."""

    cache_dir: Path
    n_subjects: int
    n_processed: int
    n_reused: int
    failures: tuple[SubjectFailure, ...]
    flagged: dict[str, list[str]]
    seconds: float
    step_seconds: dict[str, float]
    fingerprint: str
    errors_path: Path
    montage_paths: tuple[Path, ...] = field(default=())
    comparability: ComparabilityCheck | None = None

    @property
    def n_ok(self) -> int:
        """Subjects in the cache (processed now or reused)."""
        return self.n_processed + self.n_reused

    def summary(self) -> str:
        """A few human-readable lines (printed by the CLI)."""
        lines = [
            f"{self.n_ok}/{self.n_subjects} subjects in {self.cache_dir} "
            f"({self.n_processed} processed, {self.n_reused} reused, {len(self.failures)} "
            f"failed) in {self.seconds:.1f} s; fingerprint {self.fingerprint}"
        ]
        if self.step_seconds:
            steps = ", ".join(f"{k} {v:.2f}" for k, v in self.step_seconds.items() if v >= 0.005)
            lines.append(f"median seconds per processed subject: {steps}")
        for f in self.failures:
            lines.append(f"FAILED {f.subject_id}: {f.error}")
        if self.failures:
            lines.append(f"failures listed in {self.errors_path}")
        for sid, reasons in self.flagged.items():
            lines.append(f"CHECK {sid}: {'; '.join(reasons)}")
        for p in self.montage_paths:
            lines.append(f"QC montage: {p}")
        if self.comparability is not None:
            lines.extend(self.comparability.summary_lines())
        return "\n".join(lines)


def cache_settings(config: PreprocessConfig) -> dict[str, Any]:
    """The settings recorded in the cache (their hash is the fingerprint training checks)."""
    return {"pipeline_version": PIPELINE_VERSION, **config.settings()}


def config_from_settings(
    settings: Mapping[str, Any], source: str | Path = "cache"
) -> PreprocessConfig:
    """The :class:`PreprocessConfig` that produced a cache (``cache.settings``).

    Used to preprocess a new scan exactly like the training data. Raises :class:`CacheError`
    when the cache was made by another pipeline version or holds unknown settings.
    """
    values = dict(settings)
    version = values.pop("pipeline_version", None)
    if version != PIPELINE_VERSION:
        raise CacheError(
            f"{source}: made by preprocessing pipeline version {version}, this brainuad runs "
            f"version {PIPELINE_VERSION}; re-run `brainuad preprocess`"
        )
    try:
        return PreprocessConfig.from_mapping(values)
    except ConfigError as exc:
        raise CacheError(f"{source}: preprocessing settings not understood ({exc})") from exc


def preprocess_cohort(
    cohort_or_path: Cohort | str | Path,
    out_dir: str | Path,
    *,
    config: PreprocessConfig | None = None,
    jobs: int | None = None,
    progress: bool = True,
    qc: bool = False,
) -> PreprocessReport:
    """Preprocess every scan of a cohort (manifest, BIDS folder or :class:`Cohort`) into a cache.

    ``jobs`` worker processes (default: the usable CPU cores). Subjects that fail are listed in
    ``errors.csv`` and the report; the others go on. The cache is written when at least one
    subject succeeded (``report.n_ok > 0``).
    """
    start = time.perf_counter()
    cfg = config or PreprocessConfig()
    cohort = cohort_or_path if isinstance(cohort_or_path, Cohort) else read_cohort(cohort_or_path)
    out = Path(out_dir)
    work = out / "subjects"
    work.mkdir(parents=True, exist_ok=True)
    settings = cache_settings(cfg)
    fingerprint = settings_fingerprint(settings)

    tasks: list[Task] = []
    reused: dict[str, dict[str, Any]] = {}
    failures: list[SubjectFailure] = []
    for s in cohort:
        path = work / store.subject_filename(s.subject_id)
        mask = s.mask if cfg.skull_strip == "mask" else None
        try:
            digest = store.input_hash(fingerprint, s.image, mask, s.lesion_mask)
        except OSError as exc:
            failures.append(SubjectFailure(s.subject_id, str(s.image), f"cannot read input: {exc}"))
            continue
        meta = store.read_meta(path)
        if meta is not None and meta.get("input_hash") == digest:
            reused[s.subject_id] = meta
        else:
            tasks.append(
                Task(s.subject_id, str(s.image), _opt(mask), _opt(s.lesion_mask), str(path), digest)
            )

    results = run_tasks(tasks, cfg, jobs=jobs, progress=progress)
    processed: dict[str, dict[str, Any]] = {}
    for task, result in zip(tasks, results, strict=True):
        if result.get("error"):
            failures.append(SubjectFailure(task.subject_id, task.image, result["error"]))
        else:
            processed[task.subject_id] = result["meta"]

    order = [s for s in cohort if s.subject_id in processed or s.subject_id in reused]
    errors_path = out / "errors.csv"
    _write_errors(errors_path, failures)
    report_args = dict(
        cache_dir=out,
        n_subjects=len(cohort),
        n_processed=len(processed),
        n_reused=len(reused),
        failures=tuple(failures),
        fingerprint=fingerprint,
        errors_path=errors_path,
        step_seconds=summarise_steps([m["qc"] for m in processed.values()]),
    )
    if not order:
        return PreprocessReport(flagged={}, seconds=time.perf_counter() - start, **report_args)

    metas = {**reused, **processed}
    flagged = {s.subject_id: qc_flags(metas[s.subject_id]["qc"]) for s in order}
    flagged = {k: v for k, v in flagged.items() if v}
    montage, check = _write_cache(out, order, metas, settings, cfg, flagged, qc)
    return PreprocessReport(
        flagged=flagged,
        seconds=time.perf_counter() - start,
        montage_paths=tuple(montage),
        comparability=check,
        **report_args,
    )


def _opt(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _write_errors(path: Path, failures: list[SubjectFailure]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["subject_id", "image", "error"])
    for f in failures:
        writer.writerow([f.subject_id, f.image, f.error])
    write_text_atomic(path, buf.getvalue())


def _write_cache(
    out: Path,
    order: list[Any],
    metas: dict[str, dict[str, Any]],
    settings: dict[str, Any],
    cfg: PreprocessConfig,
    flagged: dict[str, list[str]],
    qc: bool,
) -> tuple[list[Path], ComparabilityCheck]:
    work = out / "subjects"
    files = [work / store.subject_filename(s.subject_id) for s in order]
    arrays = store.LazyArrays(files)
    rows = []
    for s in order:
        meta = metas[s.subject_id]
        row = {
            "subject_id": s.subject_id,
            "age": s.age,
            "label": s.label,
            "split": s.split or "",
            "image": str(s.image),
            "mask": _opt(s.mask) or "",
            "lesion_mask": _opt(s.lesion_mask) or "",
            "input_hash": meta["input_hash"],
        }
        row.update({k: meta["qc"].get(k) for k in QC_COLUMNS})
        row["qc_flags"] = "; ".join(flagged.get(s.subject_id, []))
        row.update({k: v for k, v in meta["qc"].items() if k.startswith("t_")})
        rows.append(row)
    table = pd.DataFrame(rows)
    check = check_comparability(table)

    token = secrets.token_hex(4)
    extra: dict[str, str] = {
        "geometry": f"geometry-{token}.json",
        "comparability": f"comparability-{token}.json",
    }
    new_files = [out / extra["geometry"], out / extra["comparability"]]
    has_lesions = any(s.lesion_mask is not None for s in order)
    try:
        write_json_atomic(
            out / extra["geometry"], {s.subject_id: metas[s.subject_id]["geometry"] for s in order}
        )
        write_json_atomic(out / extra["comparability"], check.to_dict())
        if has_lesions:
            extra["lesions"] = f"lesions-{token}.npy"
            new_files.append(out / extra["lesions"])
            store.write_lesions(out / extra["lesions"], files, tuple(cfg.target_shape))
        write_cache(
            out,
            arrays.volumes,
            arrays.masks,
            table,
            settings,
            versions=store.versions(cfg),
            extra_meta={"extra_files": extra, "template": store.template_name(cfg)},
        )
    except BaseException:
        for p in new_files:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        raise
    store.remove_stale_extras(out, set(extra.values()))
    montage: list[Path] = []
    if qc:
        qc_dir = out / "qc"
        qc_dir.mkdir(exist_ok=True)
        write_text_atomic(qc_dir / "qc.csv", table.to_csv(index=False))
        labels = [s.subject_id for s in order]
        montage = write_montage(
            arrays.volumes,
            labels,
            qc_dir / "montage.png",
            flagged=[s.subject_id in flagged for s in order],
        )
    return montage, check
