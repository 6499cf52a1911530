"""Planning the per-subject work of a preprocessing run and running it on an engine.

:func:`plan_subjects` hashes each subject's inputs and decides whether a finished subject file
can be reused (from the run's own folder or, linked in, from another one such as a shard's
part); :func:`run_subject_tasks` runs the rest on the local process pool
(:mod:`brainuad.preprocessing.workers`) or on Dask (:mod:`brainuad.preprocessing.dask_runner`);
:func:`run_plan` records the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainuad.errors import ConfigError
from brainuad.io.manifest import Subject
from brainuad.preprocessing import parts, store
from brainuad.preprocessing.config import PreprocessConfig
from brainuad.preprocessing.workers import Task, run_tasks


@dataclass(frozen=True)
class SubjectFailure:
    """A subject that could not be preprocessed, and why (one line)."""

    subject_id: str
    image: str
    error: str


EXECUTORS = ("local", "dask")


def check_executor(executor: str, scheduler: str | None) -> None:
    """:class:`ConfigError` for an unknown executor or a scheduler without Dask."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected one of {', '.join(EXECUTORS)}, found {executor!r}")
    if scheduler is not None and executor != "dask":
        raise ConfigError("--scheduler applies to --executor dask")
    if executor == "dask":
        from brainuad.preprocessing.dask_runner import import_distributed

        import_distributed()


def run_subject_tasks(
    tasks: list[Task],
    cfg: PreprocessConfig,
    *,
    jobs: int | None,
    executor: str,
    scheduler: str | None,
    progress: bool,
) -> list[dict[str, Any]]:
    """Run the per-subject work on the local process pool or on Dask."""
    if executor == "dask" and tasks:
        from brainuad.preprocessing.dask_runner import run_tasks_dask

        return run_tasks_dask(tasks, cfg, scheduler=scheduler, jobs=jobs, progress=progress)
    return run_tasks(tasks, cfg, jobs=jobs, progress=progress)


@dataclass
class Plan:
    """Which subjects of a cohort are reused, which must run, and which cannot be read."""

    tasks: list[Task]
    reused: dict[str, dict[str, Any]]
    failures: list[SubjectFailure]
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)


def plan_subjects(
    subjects: list[Subject],
    work: Path,
    fingerprint: str,
    cfg: PreprocessConfig,
    *,
    reuse_from: list[Path] | tuple[Path, ...] = (),
) -> Plan:
    """Hash every subject's inputs; reuse a finished file in ``work`` (or one linked in from a
    ``reuse_from`` folder) with the same hash, plan a task for the others."""
    plan = Plan([], {}, [])
    for s in subjects:
        name = store.subject_filename(s.subject_id)
        path = work / name
        mask = s.mask if cfg.skull_strip == "mask" else None
        try:
            digest = store.input_hash(fingerprint, s.image, mask, s.lesion_mask)
        except OSError as exc:
            plan.failures.append(
                SubjectFailure(s.subject_id, str(s.image), f"cannot read input: {exc}")
            )
            continue
        meta = store.read_meta(path)
        if meta is None or meta.get("input_hash") != digest:
            found = parts.find_finished(name, digest, reuse_from)
            if found is not None:
                parts.link_into(found, path)
                meta = store.read_meta(path)
        if meta is not None and meta.get("input_hash") == digest:
            plan.reused[s.subject_id] = meta
        else:
            plan.tasks.append(
                Task(
                    s.subject_id,
                    str(s.image),
                    path_or_none(mask),
                    path_or_none(s.lesion_mask),
                    str(path),
                    digest,
                )
            )
    return plan


def run_plan(plan: Plan, results: list[dict[str, Any]], subjects: list[Subject]) -> None:
    """Record the results of ``plan.tasks``; failures are kept in cohort order."""
    for task, result in zip(plan.tasks, results, strict=True):
        if result.get("error"):
            plan.failures.append(SubjectFailure(task.subject_id, task.image, result["error"]))
        else:
            plan.processed[task.subject_id] = result["meta"]
    rank = {s.subject_id: i for i, s in enumerate(subjects)}
    plan.failures.sort(key=lambda f: rank.get(f.subject_id, len(rank)))


def path_or_none(path: Path | None) -> str | None:
    """``str(path)``, or None."""
    return None if path is None else str(path)
