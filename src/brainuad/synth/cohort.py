"""Generate a whole synthetic cohort: NIfTI volumes, lesion masks and a manifest, in parallel.

Layout of ``OUT_DIR``::

    manifest.csv                      subject_id,image,age,label[,mask],lesion_mask
    images/sub-0001_T1w.nii.gz        int16 T1 (raw-like head, or skull-stripped)
    lesions/sub-0031_lesion.nii.gz    uint8 whole-tumour mask (anomalous subjects only)
    brainmasks/sub-0001_brainmask...  uint8 brain masks (only with write_brain_masks)
    synth.json                        seed, configuration and drawn parameters of every subject

Normal subjects come first (``sub-0001`` ...), then anomalous ones. Subject i of a label gets
its own seed ``SeedSequence(seed, spawn_key=(label, i, ...))``: the volumes do not depend on
``n_jobs``, and adding subjects leaves existing ones unchanged (same seed -> same bytes).
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from brainuad import __version__
from brainuad.errors import ConfigError
from brainuad.io.atomic import write_json_atomic
from brainuad.io.manifest import Subject, write_manifest
from brainuad.io.nifti import save_volume
from brainuad.synth.config import SynthConfig

MANIFEST_NAME = "manifest.csv"
_WORKER_BYTES_1MM = 1.6e9  # peak memory of one worker generating 1 mm subjects (~1.4 GB)


@dataclass(frozen=True)
class SubjectTask:
    """What one worker needs to generate and write one subject."""

    subject_id: str
    age: float
    label: int
    entropy: int
    spawn_key: tuple[int, ...]


def plan_cohort(
    n_normal: int, n_anomalous: int, seed: int, config: SynthConfig
) -> list[SubjectTask]:
    """Subject ids, ages and seeds of a cohort (ages drawn from the configured distributions)."""
    for name, n in (("n_normal", n_normal), ("n_anomalous", n_anomalous)):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"{name} must be a whole number >= 0, found {n!r}")
    if n_normal + n_anomalous < 1:
        raise ConfigError("the cohort is empty: ask for at least one normal or anomalous subject")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, found {seed!r}")
    width = max(4, len(str(n_normal + n_anomalous)))
    tasks = []
    for label, count, dist in (
        (0, n_normal, config.normal_age),
        (1, n_anomalous, config.anomalous_age),
    ):
        for i in range(count):
            age_rng = np.random.default_rng(
                np.random.SeedSequence(int(seed), spawn_key=(label, i, 0))
            )
            sid = f"sub-{len(tasks) + 1:0{width}d}"
            tasks.append(SubjectTask(sid, dist.sample(age_rng), label, int(seed), (label, i, 1)))
    return tasks


def generate_cohort(
    out_dir: str | Path,
    n_normal: int,
    n_anomalous: int,
    *,
    seed: int = 0,
    config: SynthConfig = SynthConfig(),
    n_jobs: int | None = None,
    progress: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic cohort to ``out_dir`` and return the path of its manifest.

    ``n_jobs`` defaults to the usable CPU cores (capped by memory and cohort size);
    ``progress=None`` shows a progress bar only on a terminal.
    """
    out_dir = Path(out_dir)
    tasks = plan_cohort(n_normal, n_anomalous, seed, config)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: output exists and is not a folder")
    manifest = out_dir / MANIFEST_NAME
    if manifest.exists() and not overwrite:
        raise ConfigError(
            f"{out_dir}: already holds a cohort ({MANIFEST_NAME}); "
            "pass --overwrite or choose another folder"
        )
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs < 1):
        raise ConfigError(f"n_jobs must be a whole number >= 1, found {n_jobs!r}")
    jobs = min(n_jobs or default_jobs(config.voxel_size), len(tasks))
    out_dir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    bar = tqdm(
        total=len(tasks),
        desc="synth",
        unit="subject",
        disable=None if progress is None else not progress,
    )
    try:
        if jobs == 1:
            for task in tasks:
                results.append(_run_task(task, config, str(out_dir)))
                bar.update()
        else:
            ctx = get_context("spawn")  # fresh workers: no inherited thread pools
            with ProcessPoolExecutor(
                jobs, mp_context=ctx, initializer=_init_worker, initargs=(config.voxel_size,)
            ) as pool:
                futures = [pool.submit(_run_task, t, config, str(out_dir)) for t in tasks]
                for fut in as_completed(futures):
                    results.append(fut.result())
                    bar.update()
    finally:
        bar.close()
    elapsed = time.perf_counter() - start

    results.sort(key=lambda r: r["subject_id"])
    subjects = [
        Subject(
            subject_id=r["subject_id"],
            image=out_dir / r["image"],
            age=r["age"],
            label=r["label"],
            mask=out_dir / r["mask"] if r.get("mask") else None,
            lesion_mask=out_dir / r["lesion_mask"] if r.get("lesion_mask") else None,
        )
        for r in results
    ]
    summary = {
        "generator": f"brainuad {__version__} synth",
        "seed": int(seed),
        "n_normal": int(n_normal),
        "n_anomalous": int(n_anomalous),
        "n_jobs": jobs,
        "seconds": round(elapsed, 2),
        "config": dataclasses.asdict(config),
        "subjects": results,
    }
    write_json_atomic(out_dir / "synth.json", summary)
    return write_manifest(manifest, subjects)


def default_jobs(voxel_size: float = 1.0) -> int:
    """Usable CPU cores, capped so that the workers fit in 60 % of the physical memory."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return max(1, cores)
    per_worker = _WORKER_BYTES_1MM / voxel_size**3 + 4e8
    return max(1, min(cores, int(0.6 * memory // per_worker)))


def _init_worker(voxel_size: float) -> None:
    import torch

    from brainuad.synth.anatomy import load_anatomy

    torch.set_num_threads(1)
    load_anatomy(voxel_size)


def _run_task(task: SubjectTask, config: SynthConfig, out_dir: str) -> dict[str, Any]:
    """Generate one subject and write its files; return its manifest row and parameters."""
    from brainuad.synth.subject import generate_subject

    ss = np.random.SeedSequence(task.entropy, spawn_key=task.spawn_key)
    subj = generate_subject(task.age, task.label, seed=ss, config=config)
    root = Path(out_dir)
    row: dict[str, Any] = {"subject_id": task.subject_id, "age": task.age, "label": task.label}
    row["image"] = f"images/{task.subject_id}_T1w.nii.gz"
    save_volume(root / row["image"], subj.image, subj.affine)
    if subj.lesion_mask is not None:
        row["lesion_mask"] = f"lesions/{task.subject_id}_lesion.nii.gz"
        save_volume(root / row["lesion_mask"], subj.lesion_mask, subj.affine)
    if config.write_brain_masks:
        row["mask"] = f"brainmasks/{task.subject_id}_brainmask.nii.gz"
        save_volume(root / row["mask"], subj.brain_mask, subj.affine)
    row["params"] = subj.info
    return row
