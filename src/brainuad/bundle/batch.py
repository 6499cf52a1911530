"""Predicting one scan or a whole cohort into an output folder (``brainuad predict``).

Scans are processed in batches of ``batch_size``: each scan of a batch is preprocessed (in
``jobs`` worker processes when ``jobs > 1``), the batch goes through the model once, and each
scan's files are written (:mod:`brainuad.bundle.outputs`); ``predictions.csv`` is updated after
every batch, so a long run that is stopped keeps every finished scan. A scan that fails (bad
file, preprocessing failure, a scan the model fails on) is listed in ``errors.csv`` with its
reason and the others go on (a failing batch is retried scan by scan to find it); with
``stop_on_error`` (a single scan) the error is raised instead and nothing is written.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from brainuad.bundle.load import Bundle
from brainuad.bundle.outputs import (
    ERRORS_CSV,
    PREDICTIONS_CSV,
    check_table,
    csv_row,
    safe_id,
    update_table,
    write_errors,
    write_scan,
)
from brainuad.bundle.predict import ScanInput, ScanPrediction, predict_preprocessed, preprocess_scan
from brainuad.errors import BrainUADError, ConfigError, EnvironmentProblem, one_line_error
from brainuad.preprocessing import PreprocessConfig

Log = Callable[[str], None]
Writer = Callable[[Path, ScanPrediction, Bundle], dict[str, Path]]


@dataclass(frozen=True)
class PredictReport:
    """What :func:`predict_to_folder` did: one CSV row per assessed scan, the failures."""

    out_dir: Path
    rows: tuple[dict[str, Any], ...]
    failures: tuple[tuple[str, str, str], ...]
    predictions_csv: Path
    errors_csv: Path | None
    seconds: float

    @property
    def n_ok(self) -> int:
        return len(self.rows)


def scans_from_cohort(path: str | Path) -> list[ScanInput]:
    """The scans of a manifest (CSV/TSV) or BIDS folder; ages may be missing."""
    from brainuad.io.manifest import read_cohort

    cohort = read_cohort(path, require_age=False)
    return [ScanInput(s.subject_id, s.image, s.age, s.mask) for s in cohort]


def _preprocess_job(config: PreprocessConfig, scan: ScanInput) -> tuple[str, Any]:
    """Worker: ``("ok", PreprocessedSubject)`` or ``("error", one-line message)``."""
    try:
        return "ok", preprocess_scan(config, scan)
    except Exception as exc:  # reported per scan; the batch goes on
        return "error", one_line_error(exc)


def _init_worker() -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


def predict_to_folder(
    bundle: Bundle,
    scans: Sequence[ScanInput],
    out_dir: str | Path,
    *,
    batch_size: int = 8,
    jobs: int = 1,
    progress: bool | None = None,
    stop_on_error: bool = False,
    errors_file: bool = True,
    on_result: Callable[[ScanPrediction, dict[str, Path]], None] | None = None,
    writer: Writer | None = None,
) -> PredictReport:
    """Assess ``scans`` and write their outputs to ``out_dir`` (module docstring).

    ``on_result`` is called after each scan's files are written. ``errors_file=False`` skips
    ``errors.csv`` (single scans). ``writer(out_dir, prediction, bundle)`` replaces the default
    file layout (:func:`~brainuad.bundle.outputs.write_scan`, e.g. by BIDS derivatives); it
    returns the written files with the record under ``"json"``, and ``predictions.csv`` is then
    not written.
    """
    if batch_size < 1 or jobs < 1:
        raise ConfigError(f"batch_size and jobs must be >= 1, found {batch_size} and {jobs}")
    _check_ids(scans)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: --out must be a folder, found a file")
    if writer is None:
        check_table(out / PREDICTIONS_CSV)
    start = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(scans), desc="predict", unit="scan", disable=not show)
    rows: list[dict[str, Any]] = []
    failures: list[tuple[str, str, str]] = []
    pool = None
    if jobs > 1 and len(scans) > 1 and not stop_on_error:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(min(jobs, len(scans)), mp_context=ctx, initializer=_init_worker)
    try:
        for first in range(0, len(scans), batch_size):
            batch = list(scans[first : first + batch_size])
            ready, preps = _preprocess_batch(bundle, batch, pool, stop_on_error, failures)
            batch_rows = []
            for pred in _predict_batch(bundle, ready, preps, stop_on_error, failures):
                try:
                    files = (writer or write_scan)(out, pred, bundle)
                except (OSError, EOFError, ValueError) as exc:
                    if stop_on_error or isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                        raise  # a full disk fails every scan: stop with exit status 3
                    failures.append((pred.subject_id, str(pred.image), f"writing failed: {exc}"))
                    continue
                batch_rows.append(csv_row(pred, files))
                if on_result is not None:
                    on_result(pred, files)
            if batch_rows and writer is None:
                update_table(out / PREDICTIONS_CSV, batch_rows)
            rows.extend(batch_rows)
            bar.update(len(batch))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    errors_csv = None
    if errors_file:
        errors_csv = write_errors(out / ERRORS_CSV, failures)
    return PredictReport(
        out,
        tuple(rows),
        tuple(failures),
        out / PREDICTIONS_CSV,
        errors_csv,
        time.perf_counter() - start,
    )


def _predict_batch(
    bundle: Bundle,
    ready: list[ScanInput],
    preps: list[Any],
    stop_on_error: bool,
    failures: list[tuple[str, str, str]],
) -> list[ScanPrediction]:
    """The batch through the model; when that fails, each scan alone, so that one bad scan
    (e.g. a non-finite output) is listed in ``failures`` and the others are still assessed."""
    if not ready:
        return []
    try:
        return predict_preprocessed(bundle, ready, preps)
    except (BrainUADError, ValueError, RuntimeError, FloatingPointError) as exc:
        if stop_on_error or isinstance(exc, EnvironmentProblem):
            raise
        if len(ready) == 1:
            failures.append((ready[0].subject_id, str(ready[0].image), one_line_error(exc)))
            return []
    results: list[ScanPrediction] = []
    for scan, prep in zip(ready, preps, strict=True):
        try:
            results.extend(predict_preprocessed(bundle, [scan], [prep]))
        except (BrainUADError, ValueError, RuntimeError, FloatingPointError) as exc:
            failures.append((scan.subject_id, str(scan.image), one_line_error(exc)))
    return results


def _preprocess_batch(
    bundle: Bundle,
    batch: list[ScanInput],
    pool: ProcessPoolExecutor | None,
    stop_on_error: bool,
    failures: list[tuple[str, str, str]],
) -> tuple[list[ScanInput], list[Any]]:
    ready, preps = [], []
    if pool is None:
        for scan in batch:
            try:
                preps.append(preprocess_scan(bundle.preprocess, scan))
                ready.append(scan)
            except Exception as exc:  # one bad scan never sinks the batch (module docstring)
                if stop_on_error or isinstance(exc, EnvironmentProblem):
                    raise
                failures.append((scan.subject_id, str(scan.image), one_line_error(exc)))
        return ready, preps
    futures = [pool.submit(_preprocess_job, bundle.preprocess, scan) for scan in batch]
    for scan, fut in zip(batch, futures, strict=True):
        try:
            status, value = fut.result()
        except Exception as exc:  # a dead worker (e.g. out of memory)
            status, value = "error", f"worker failed: {type(exc).__name__}: {exc}"
        if status == "ok":
            ready.append(scan)
            preps.append(value)
        else:
            failures.append((scan.subject_id, str(scan.image), value))
    return ready, preps


def _check_ids(scans: Sequence[ScanInput]) -> None:
    seen: dict[str, str] = {}
    for scan in scans:
        key = safe_id(scan.subject_id)
        if key in seen and seen[key] != scan.subject_id:
            raise ConfigError(
                f"subject ids {seen[key]!r} and {scan.subject_id!r} give the same output file "
                f"name {key!r}; rename one of them"
            )
        if key in seen:
            raise ConfigError(f"subject id {scan.subject_id!r} is listed twice")
        seen[key] = scan.subject_id
