"""Running the per-subject work on a Dask cluster (``--executor dask``), the optional engine.

The subjects are submitted as one Dask task each to an existing scheduler (``--scheduler
tcp://host:8786`` or the path of a scheduler file, e.g. started by ``dask-jobqueue`` on
SLURM/PBS) or, without a scheduler, to a :class:`distributed.LocalCluster` of ``jobs``
single-threaded worker processes started for this run. Each task runs the same function as the
local process pool (:func:`brainuad.preprocessing.workers.process_task`), so the subject files
and the cache are identical whichever engine ran them. Workers read the input scans and write
each finished subject file themselves: they must see the same paths (a shared filesystem, as
for any cluster pipeline), and every path is made absolute before submission.

A worker that dies is replaced by Dask and its task retried on another worker; a subject that
keeps killing workers is reported as failed (``KilledWorker``) and the others go on.
Dask is optional: ``pip install 'brainuad[dask]'``.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from brainuad.errors import ConfigError, one_line_error
from brainuad.preprocessing.config import PreprocessConfig
from brainuad.preprocessing.workers import (
    CRASHED,
    Task,
    TaskFn,
    default_jobs,
    process_task,
)

INSTALL_HINT = "pip install 'brainuad[dask]'"
CONNECT_TIMEOUT_S = 30

_init_lock = threading.Lock()
_initialised: set[tuple[bool, str]] = set()


def import_distributed() -> Any:
    """The ``distributed`` module, or a one-line :class:`ConfigError` saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            f"--executor dask needs the optional Dask dependencies ({exc}); install them with "
            f"{INSTALL_HINT}"
        ) from None
    return distributed


def _ensure_worker_ready(config: PreprocessConfig) -> None:
    """Once per worker process: single-threaded SimpleITK/torch and the template in memory.

    (Dask's nanny already starts workers with ``OMP_NUM_THREADS=1`` and friends.)
    """
    key = (config.register, config.skull_strip)
    if key in _initialised:
        return
    with _init_lock:
        if key in _initialised:
            return
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        if config.skull_strip == "deepbet":
            import torch

            torch.set_num_threads(1)
        if config.register:
            from brainuad.preprocessing.template import load_template

            load_template()
        _initialised.add(key)


def dask_task(task: Task, config: PreprocessConfig, fn: TaskFn = process_task) -> dict[str, Any]:
    """What one Dask task runs: prepare the worker, then ``fn`` (the local pool's function)."""
    _ensure_worker_ready(config)
    return fn(task, config)


def absolute(task: Task) -> Task:
    """The task with every path absolute (workers may run in another working directory)."""

    def fix(path: str | None) -> str | None:
        return None if path is None else str(Path(path).absolute())

    return Task(
        task.subject_id,
        fix(task.image),  # type: ignore[arg-type]
        fix(task.mask),
        fix(task.lesion),
        fix(task.out_path),  # type: ignore[arg-type]
        task.input_hash,
    )


@contextlib.contextmanager
def dask_client(scheduler: str | None, jobs: int | None = None) -> Iterator[Any]:
    """A connected ``distributed.Client``: to ``scheduler`` (address or scheduler-file path), or
    to a LocalCluster of ``jobs`` single-threaded worker processes that lives for the block."""
    distributed = import_distributed()
    if scheduler is None:
        n = default_jobs() if jobs is None else int(jobs)
        with (
            distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    kwargs: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S}
    if Path(scheduler).suffix == ".json" or Path(scheduler).is_file():
        if not Path(scheduler).is_file():
            raise ConfigError(f"--scheduler: scheduler file {scheduler} not found")
        kwargs["scheduler_file"] = scheduler
    else:
        kwargs["address"] = scheduler
    try:
        client = distributed.Client(**kwargs)
    except (OSError, TimeoutError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        raise ConfigError(
            f"--scheduler: cannot connect to the Dask scheduler at {scheduler} "
            f"({text[0] if text else type(exc).__name__})"
        ) from None
    try:
        yield client
    finally:
        client.close()


def run_tasks_dask(
    tasks: Sequence[Task],
    config: PreprocessConfig,
    *,
    scheduler: str | None = None,
    jobs: int | None = None,
    client: Any = None,
    progress: bool = True,
    fn: TaskFn = process_task,
) -> list[dict[str, Any]]:
    """Run every task on Dask; results in task order, like :func:`workers.run_tasks`.

    ``client``: an existing ``distributed.Client`` (e.g. of a ``dask_jobqueue.SLURMCluster``)
    to use instead of connecting to ``scheduler`` or starting a LocalCluster.
    """
    if not tasks:
        return []
    if client is not None:
        return _submit_all(client, tasks, config, progress, fn)
    with dask_client(scheduler, jobs) as own:
        return _submit_all(own, tasks, config, progress, fn)


def _submit_all(
    client: Any, tasks: Sequence[Task], config: PreprocessConfig, progress: bool, fn: TaskFn
) -> list[dict[str, Any]]:
    distributed = import_distributed()
    run = secrets.token_hex(4)  # keys unique to this run: another run may share the scheduler
    futures = [
        client.submit(
            dask_task,
            absolute(task),
            config,
            fn,
            key=f"brainuad-preprocess-{run}-{i}-{task.subject_id[:40]}",
            pure=False,
        )
        for i, task in enumerate(tasks)
    ]
    position = {fut.key: i for i, fut in enumerate(futures)}
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    failed = 0
    bar = tqdm(
        total=len(tasks),
        desc="preprocess (dask)",
        unit="scan",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        for fut in distributed.as_completed(futures):
            i = position[fut.key]
            if fut.status == "finished":
                result = fut.result()
            else:
                exc = fut.exception()
                killed = type(exc).__name__ == "KilledWorker"
                result = {"error": CRASHED if killed else one_line_error(exc)}
            results[i] = result
            failed += bool(result.get("error"))
            bar.set_postfix(failed=failed, refresh=False)
            bar.update(1)
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        bar.close()
    return [r if r is not None else {"error": "not run"} for r in results]
