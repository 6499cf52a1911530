"""Running subjects in worker processes with a progress bar; one failure never stops the rest.

Workers are started with ``spawn`` (safe with PyTorch and SimpleITK threads), each uses one
thread for every library (``jobs`` processes share the cores), loads the template once and
writes each finished subject straight to its file. A worker that dies (e.g. out of memory)
breaks the pool: the subjects it left unfinished are re-run one at a time, each in a fresh
worker, so that only the subject that kills its worker is reported as failed.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from brainuad.errors import one_line_error
from brainuad.preprocessing import store
from brainuad.preprocessing.config import PreprocessConfig

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Task:
    """One subject to preprocess and where to save it."""

    subject_id: str
    image: str
    mask: str | None
    lesion: str | None
    out_path: str
    input_hash: str


def process_task(task: Task, config: PreprocessConfig) -> dict[str, Any]:
    """Preprocess one subject and save it; returns ``{"meta": ...}`` or ``{"error": "..."}``."""
    from brainuad.preprocessing.subject import preprocess_subject

    try:
        result = preprocess_subject(
            task.image, mask_path=task.mask, lesion_path=task.lesion, config=config
        )
        meta = store.write_subject(task.out_path, result, task.input_hash, task.subject_id)
    except Exception as exc:  # any failure of one subject is reported, the others go on
        return {"error": one_line_error(exc)}
    return {"meta": meta, "error": None}


def default_jobs() -> int:
    """Usable CPU cores of this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _init_worker(config: PreprocessConfig) -> None:
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    if config.skull_strip in ("deepbet", "auto"):
        import torch

        torch.set_num_threads(1)
    if config.register:
        from brainuad.preprocessing.template import load_template

        load_template()


TaskFn = Callable[[Task, PreprocessConfig], dict[str, Any]]
CRASHED = "worker process crashed (out of memory?) while preprocessing this subject"


def run_tasks(
    tasks: Sequence[Task],
    config: PreprocessConfig,
    *,
    jobs: int | None = None,
    progress: bool = True,
    fn: TaskFn = process_task,
) -> list[dict[str, Any]]:
    """Run every task (``jobs`` processes; 1 runs in this process); results in task order.

    If a worker dies, the pool breaks: the subjects it left unfinished are then run one per
    fresh single-worker pool, so that only the subject that kills its worker is reported.
    """
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, found {jobs}")
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    bar = tqdm(
        total=len(tasks),
        desc="preprocess",
        unit="scan",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    failed = 0

    def done(i: int, result: dict[str, Any]) -> None:
        nonlocal failed
        results[i] = result
        failed += bool(result.get("error"))
        bar.set_postfix(failed=failed, refresh=False)
        bar.update(1)

    try:
        if jobs == 1 or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                done(i, fn(task, config))
        else:
            pending = _pool_run(fn, tasks, list(range(len(tasks))), config, jobs, done)
            for i in pending:  # isolate: one subject per fresh worker
                if _pool_run(fn, tasks, [i], config, 1, done):
                    done(i, {"error": CRASHED})
    finally:
        bar.close()
    return [r if r is not None else {"error": "not run"} for r in results]


def _pool_run(
    fn: TaskFn,
    tasks: Sequence[Task],
    indices: list[int],
    config: PreprocessConfig,
    jobs: int,
    done: Callable[[int, dict[str, Any]], None],
) -> list[int]:
    """Run ``indices`` in a pool; returns those left unfinished by a broken pool."""
    ctx = multiprocessing.get_context("spawn")
    unfinished: list[int] = []
    with ProcessPoolExecutor(
        min(jobs, len(indices)), mp_context=ctx, initializer=_init_worker, initargs=(config,)
    ) as pool:
        futures: dict[Future, int] = {pool.submit(fn, tasks[i], config): i for i in indices}
        try:
            remaining = set(futures)
            while remaining:
                finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for fut in finished:
                    try:
                        done(futures[fut], fut.result())
                    except BrokenProcessPool:
                        unfinished.append(futures[fut])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return sorted(unfinished)
