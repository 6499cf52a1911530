"""Preprocess a cohort into the cache: parallel, incremental, never half-written.

Layout of ``CACHE_DIR`` after :func:`preprocess_cohort`::

    cache.json, volumes-*.npy, masks-*.npy, subjects-*.csv   the cache (brainuad.io.cache)
    geometry-<token>.json    per subject: scan grid, registration and model grid (SubjectGeometry)
    lesions-<token>.npy      uint8 (N, X, Y, Z) lesion masks (only when the manifest has some)
    lesion_fractions-<token>.npy  uint8 (N, X, Y, Z) share of each voxel covered by lesion,
                             in steps of 1/255 (:mod:`brainuad.preprocessing.lesions`)
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
over last, so readers see the old or the new cache, never a mix. The cache's files are named by
a hash of their content: the same subjects preprocessed the same way give the same bytes, and a
re-run that changes nothing rewrites nothing. The subjects run on a local process pool
(:mod:`.workers`) or on Dask (:mod:`.dask_runner`); shards and their merge are in
:mod:`.shards`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from brainuad.errors import CacheError, ConfigError
from brainuad.io.atomic import write_json_atomic, write_text_atomic
from brainuad.io.cache import CACHE_FORMAT_VERSION, settings_fingerprint, write_cache
from brainuad.io.manifest import Cohort, Subject, read_cohort
from brainuad.preprocessing import parts, store
from brainuad.preprocessing.comparability import ComparabilityCheck, check_comparability
from brainuad.preprocessing.config import PreprocessConfig, check_cohort_fits
from brainuad.preprocessing.planning import (
    Plan,
    SubjectFailure,
    check_executor,
    path_or_none,
    plan_subjects,
    run_plan,
    run_subject_tasks,
)
from brainuad.preprocessing.qc import QC_COLUMNS, qc_flags, summarise_steps, write_montage

PIPELINE_VERSION = 1


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
    executor: str = "local",
    scheduler: str | None = None,
) -> PreprocessReport:
    """Preprocess every scan of a cohort (manifest, BIDS folder or :class:`Cohort`) into a cache.

    ``jobs`` worker processes (default: the usable CPU cores); ``executor="dask"`` runs the
    subjects on a Dask cluster instead (``scheduler``: its address or scheduler file; without
    one, a LocalCluster of ``jobs`` workers). Subjects that fail are listed in ``errors.csv``
    and the report; the others go on. The cache is written when at least one subject
    succeeded (``report.n_ok > 0``). Finished subjects of shards (``CACHE/parts``, see
    :mod:`brainuad.preprocessing.shards`) are reused, and their part folders removed once the
    cache holds them.
    """
    start = time.perf_counter()
    check_executor(executor, scheduler)
    cfg = config or PreprocessConfig()
    cohort = cohort_or_path if isinstance(cohort_or_path, Cohort) else read_cohort(cohort_or_path)
    check_cohort_fits(cfg, cohort)
    out = Path(out_dir)
    work = out / "subjects"
    work.mkdir(parents=True, exist_ok=True)
    settings = cache_settings(cfg)
    fingerprint = settings_fingerprint(settings)
    subjects = list(cohort)
    folders = parts.part_folders(out)
    with parts.lock_parts(folders, "brainuad preprocess (absorbing shard parts)"):
        plan = plan_subjects(
            subjects, work, fingerprint, cfg, reuse_from=[f / "subjects" for f in folders]
        )
        results = run_subject_tasks(
            plan.tasks,
            cfg,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            progress=progress,
        )
        run_plan(plan, results, subjects)
        report = finish_cache(out, subjects, plan, settings, cfg, qc=qc, start=start)
        if report.n_ok:
            parts.remove_folders(out, [f for f in folders if parts.absorbed(f, work)])
    return report


def finish_cache(
    out: Path,
    subjects: list[Subject],
    plan: Plan,
    settings: dict[str, Any],
    cfg: PreprocessConfig,
    *,
    qc: bool,
    start: float,
    versions: dict[str, str] | None = None,
) -> PreprocessReport:
    """Write ``errors.csv`` and (when a subject succeeded) the cache; the report of the run."""
    errors_path = out / "errors.csv"
    write_errors(errors_path, plan.failures)
    metas = {**plan.reused, **plan.processed}
    order = [s for s in subjects if s.subject_id in metas]
    report_args = dict(
        cache_dir=out,
        n_subjects=len(subjects),
        n_processed=len(plan.processed),
        n_reused=len(plan.reused),
        failures=tuple(plan.failures),
        fingerprint=settings_fingerprint(settings),
        errors_path=errors_path,
        step_seconds=summarise_steps([m["qc"] for m in plan.processed.values()]),
    )
    if not order:
        return PreprocessReport(flagged={}, seconds=time.perf_counter() - start, **report_args)
    flagged = {s.subject_id: qc_flags(metas[s.subject_id]["qc"]) for s in order}
    flagged = {k: v for k, v in flagged.items() if v}
    montage, check = _write_cache(out, order, metas, settings, cfg, flagged, qc, versions)
    return PreprocessReport(
        flagged=flagged,
        seconds=time.perf_counter() - start,
        montage_paths=tuple(montage),
        comparability=check,
        **report_args,
    )


def write_errors(path: Path, failures: list[SubjectFailure]) -> None:
    """``errors.csv``: subject_id, image, error of each failure (atomically)."""
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
    versions: dict[str, str] | None = None,
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
            "mask": path_or_none(s.mask) or "",
            "lesion_mask": path_or_none(s.lesion_mask) or "",
            "input_hash": meta["input_hash"],
        }
        row.update({k: meta["qc"].get(k) for k in QC_COLUMNS})
        row["qc_flags"] = "; ".join(flagged.get(s.subject_id, []))
        row.update({k: v for k, v in meta["qc"].items() if k.startswith("t_")})
        rows.append(row)
    table = pd.DataFrame(rows)
    geometry = {s.subject_id: metas[s.subject_id]["geometry"] for s in order}
    versions = dict(versions or store.versions(cfg))
    has_lesions = any(s.lesion_mask is not None for s in order)
    template = store.template_name(cfg)
    check = check_comparability(table)
    # the files' token is a hash of everything the cache holds: the same subjects preprocessed
    # the same way give the same bytes and names, and a re-run with nothing new writes nothing
    token = _content_token(table, settings, versions, geometry, template, has_lesions)
    extra: dict[str, str] = {
        "geometry": f"geometry-{token}.json",
        "comparability": f"comparability-{token}.json",
    }
    if has_lesions:
        extra["lesions"] = f"lesions-{token}.npy"
        extra["lesion_fractions"] = f"lesion_fractions-{token}.npy"
    if not _is_current(out, token, extra):
        new_files = [out / name for name in extra.values()]
        try:
            write_json_atomic(out / extra["geometry"], geometry)
            write_json_atomic(out / extra["comparability"], check.to_dict())
            if has_lesions:
                shape = tuple(cfg.target_shape)
                store.write_lesions(out / extra["lesions"], files, shape)
                store.write_lesions(out / extra["lesion_fractions"], files, shape, fraction=True)
            write_cache(
                out,
                arrays.volumes,
                arrays.masks,
                table,
                settings,
                versions=versions,
                extra_meta={"extra_files": extra, "template": template},
                token=token,
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


def _content_token(
    table: pd.DataFrame,
    settings: dict[str, Any],
    versions: dict[str, str],
    geometry: dict[str, Any],
    template: str | None,
    has_lesions: bool,
) -> str:
    h = hashlib.sha256(table.to_csv(index=False).encode("utf-8"))
    extras = (settings, versions, geometry, template, has_lesions)
    for part in (*extras, PIPELINE_VERSION, CACHE_FORMAT_VERSION):
        h.update(b"\0" + json.dumps(part, sort_keys=True, default=str).encode("utf-8"))
    return h.hexdigest()[:8]


def _is_current(out: Path, token: str, extra: dict[str, str]) -> bool:
    """True when ``cache.json`` already names this token's files and they all exist."""
    try:
        meta = json.loads((out / "cache.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    files = meta.get("files", {})
    names = [*files.values(), *meta.get("extra_files", {}).values()]
    return (
        files.get("volumes") == f"volumes-{token}.npy"
        and meta.get("extra_files") == extra
        and all((out / n).is_file() for n in names)
    )
