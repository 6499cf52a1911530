"""Split preprocessing: one shard of a cohort per job, then one merge into the usual cache.

* :func:`preprocess_shard` (``brainuad preprocess MANIFEST --out CACHE --shard I/N``) runs the
  subjects of shard I (see :class:`~brainuad.preprocessing.parts.ShardSpec`) into
  ``CACHE/parts/I-of-N`` and writes its ``part.json`` last. A killed shard re-run reuses every
  subject it had finished (keyed by input hash, as an unsharded run does); finished subjects of
  an earlier cache (``CACHE/subjects``) are reused too.
* :func:`merge_parts` (``brainuad cache merge CACHE``) checks that the N parts are all there
  exactly once, were made with the same settings fingerprint, tool versions and cohort, and
  together hold every subject exactly once; it then links their subject files into
  ``CACHE/subjects`` and writes the cache with the same code as an unsharded run, so the two are
  identical (but for the per-step seconds of each subject, measured in whichever run did it),
  and removes the parts. A merge killed at any point re-runs to the same bytes; a
  second merge at the same time is refused (:class:`~brainuad.errors.BusyError`).
* An unsharded ``brainuad preprocess`` on the same folder also assembles the parts: it reuses
  their finished subjects and preprocesses whatever is missing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainuad.errors import CacheError
from brainuad.io.atomic import write_json_atomic
from brainuad.io.cache import settings_fingerprint
from brainuad.io.lock import folder_lock
from brainuad.io.manifest import Cohort, read_cohort
from brainuad.preprocessing import parts, store
from brainuad.preprocessing.config import PreprocessConfig, check_cohort_fits
from brainuad.preprocessing.parts import ShardSpec
from brainuad.preprocessing.pipeline import (
    PreprocessReport,
    cache_settings,
    config_from_settings,
    finish_cache,
    write_errors,
)
from brainuad.preprocessing.planning import (
    Plan,
    SubjectFailure,
    check_executor,
    plan_subjects,
    run_plan,
    run_subject_tasks,
)
from brainuad.preprocessing.qc import summarise_steps


def preprocess_shard(
    cohort_or_path: Cohort | str | Path,
    cache_dir: str | Path,
    shard: ShardSpec | str,
    *,
    config: PreprocessConfig | None = None,
    jobs: int | None = None,
    progress: bool = True,
    executor: str = "local",
    scheduler: str | None = None,
) -> PreprocessReport:
    """Preprocess shard ``I/N`` of a cohort into ``CACHE/parts/I-of-N`` (module docstring).

    The report's ``cache_dir`` is the part folder and ``n_subjects`` the shard's share.
    Raises :class:`~brainuad.errors.BusyError` when the same shard is already running.
    """
    start = time.perf_counter()
    spec = shard if isinstance(shard, ShardSpec) else ShardSpec.parse(shard)
    check_executor(executor, scheduler)
    cfg = config or PreprocessConfig()
    cohort = cohort_or_path if isinstance(cohort_or_path, Cohort) else read_cohort(cohort_or_path)
    check_cohort_fits(cfg, cohort)
    cache = Path(cache_dir)
    folder = parts.part_dir(cache, spec)
    settings = cache_settings(cfg)
    fingerprint = settings_fingerprint(settings)
    positions = spec.positions(cohort)
    subjects = [cohort.subjects[i] for i in positions]
    with folder_lock(folder, f"brainuad preprocess --shard {spec}"):
        work = folder / "subjects"
        work.mkdir(parents=True, exist_ok=True)
        plan = plan_subjects(subjects, work, fingerprint, cfg, reuse_from=[cache / "subjects"])
        results = run_subject_tasks(
            plan.tasks, cfg, jobs=jobs, executor=executor, scheduler=scheduler, progress=progress
        )
        run_plan(plan, results, subjects)
        errors_path = folder / "errors.csv"
        write_errors(errors_path, plan.failures)
        write_json_atomic(
            folder / parts.PART_RECORD,
            _part_record(spec, cohort, positions, plan, settings, cfg),
        )
    return PreprocessReport(
        cache_dir=folder,
        n_subjects=len(subjects),
        n_processed=len(plan.processed),
        n_reused=len(plan.reused),
        failures=tuple(plan.failures),
        flagged={},
        seconds=time.perf_counter() - start,
        step_seconds=summarise_steps([m["qc"] for m in plan.processed.values()]),
        fingerprint=fingerprint,
        errors_path=errors_path,
    )


def _part_record(
    spec: ShardSpec,
    cohort: Cohort,
    positions: list[int],
    plan: Plan,
    settings: dict[str, Any],
    cfg: PreprocessConfig,
) -> dict[str, Any]:
    metas = {**plan.reused, **plan.processed}
    errors = {f.subject_id: f.error for f in plan.failures}
    subjects = []
    for pos in positions:
        s = cohort.subjects[pos]
        entry: dict[str, Any] = {"position": pos, **parts.subject_row(s)}
        if s.subject_id in metas:
            entry.update(status="ok", input_hash=metas[s.subject_id]["input_hash"])
        else:
            entry.update(status="failed", error=errors.get(s.subject_id, "not run"))
        subjects.append(entry)
    return {
        "format": parts.PART_FORMAT,
        "format_version": parts.PART_FORMAT_VERSION,
        "shard": spec.index,
        "n_shards": spec.count,
        "fingerprint": settings_fingerprint(settings),
        "settings": settings,
        "versions": store.versions(cfg),
        "cohort": {
            "source": str(cohort.source),
            "n_subjects": len(cohort),
            "digest": parts.cohort_digest(cohort),
        },
        "subjects": subjects,
    }


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_parts` did (``report`` is None when there was nothing to merge)."""

    cache_dir: Path
    n_parts: int
    report: PreprocessReport | None

    def summary(self) -> str:
        """Human-readable lines (printed by the CLI)."""
        if self.report is None:
            return f"nothing to merge: {self.cache_dir} has no parts and is already a cache"
        return f"merged {self.n_parts} part(s) into {self.cache_dir}\n" + self.report.summary()


def merge_parts(cache_dir: str | Path, *, qc: bool = False, progress: bool = True) -> MergeReport:
    """Assemble ``CACHE/parts/*`` into the cache ``CACHE`` (module docstring).

    Raises :class:`CacheError` (one line) for a missing, doubled, unfinished or mismatched
    part, and :class:`~brainuad.errors.BusyError` when a merge or one of the shards is running.
    Nothing is changed in the cache when a check fails.
    """
    del progress  # merging is I/O only; kept for a uniform signature
    start = time.perf_counter()
    cache = Path(cache_dir)
    with folder_lock(cache, "brainuad cache merge"):
        folders = parts.part_folders(cache)
        if not folders:
            if (cache / "cache.json").is_file():
                parts.remove_folders(cache, [])  # leftovers of a merge killed while cleaning
                return MergeReport(cache, 0, None)
            raise CacheError(
                f"{cache}: no shard parts found in {parts.parts_root(cache)}; run `brainuad "
                "preprocess MANIFEST --out CACHE --shard I/N` for every I first"
            )
        with parts.lock_parts(folders, "brainuad cache merge"):
            records = [parts.read_part(f) for f in folders]
            subjects = check_parts(cache, folders, records)
            report = _assemble(cache, folders, records, subjects, qc=qc, start=start)
            parts.remove_folders(cache, folders)
    return MergeReport(cache, len(folders), report)


def check_parts(
    cache: Path, folders: list[Path], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every subject entry of the parts in cohort order, after checking that the parts form one
    complete, consistent set; :class:`CacheError` naming the first problem otherwise."""
    names = [f"{parts.PARTS_DIR}/{f.name}" for f in folders]
    for key, what in (
        ("fingerprint", "preprocessing settings (fingerprints)"),
        ("n_shards", "shard counts N"),
        ("versions", "tool versions"),
    ):
        _same(cache, names, [r.get(key) for r in records], what)
    _same(cache, names, [r.get("cohort", {}).get("digest") for r in records], "cohorts")
    n = int(records[0]["n_shards"])
    seen: dict[int, str] = {}
    for name, record in zip(names, records, strict=True):
        index = int(record["shard"])
        if index in seen:
            raise CacheError(
                f"{cache}: shard {index}/{n} is there twice ({seen[index]} and {name}); "
                "delete one of them"
            )
        seen[index] = name
    missing = [f"{i}/{n}" for i in range(1, n + 1) if i not in seen]
    if missing:
        raise CacheError(
            f"{cache}: missing shard(s) {', '.join(missing)} of {n} (no finished part); run "
            f"`brainuad preprocess MANIFEST --out {cache} --shard {missing[0]}` for each"
        )
    entries: dict[int, tuple[str, dict[str, Any]]] = {}
    for name, record in zip(names, records, strict=True):
        for entry in record["subjects"]:
            pos = int(entry["position"])
            if pos in entries:
                raise CacheError(
                    f"{cache}: subject {entry['subject_id']} is in two parts ({entries[pos][0]} "
                    f"and {name})"
                )
            entries[pos] = (name, entry)
    n_cohort = int(records[0]["cohort"]["n_subjects"])
    absent = [i for i in range(n_cohort) if i not in entries]
    if absent or len(entries) != n_cohort:
        raise CacheError(
            f"{cache}: {len(absent)} subject(s) of the cohort are in no part (first: row "
            f"{absent[0] + 1 if absent else '?'}); re-run the shards on the same manifest"
        )
    counts = Counter(e["subject_id"] for _, e in entries.values())
    twice = [sid for sid, c in counts.items() if c > 1]
    if twice:
        raise CacheError(f"{cache}: subject id {twice[0]} appears more than once in the parts")
    return [entries[i][1] | {"part": entries[i][0]} for i in range(n_cohort)]


def _same(cache: Path, names: list[str], values: list[Any], what: str) -> None:
    first = values[0]
    for name, value in zip(names[1:], values[1:], strict=True):
        if value != first:
            shown = (
                (first, value)
                if isinstance(first, (str, int))
                else ("one set", "another")  # versions: dicts, too long for one line
            )
            raise CacheError(
                f"{cache}: the parts were made with different {what}: {names[0]} has "
                f"{shown[0]}, {name} has {shown[1]}; re-run all shards with the same settings"
            )


def _assemble(
    cache: Path,
    folders: list[Path],
    records: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    *,
    qc: bool,
    start: float,
) -> PreprocessReport:
    settings = records[0]["settings"]
    cfg = config_from_settings(settings, cache / parts.PARTS_DIR)
    work = cache / "subjects"
    plan = Plan([], {}, [])
    by_name = {f"{parts.PARTS_DIR}/{f.name}": f for f in folders}
    found: list[Path] = []
    for entry in entries:  # check every finished file before touching the cache
        if entry["status"] != "ok":
            plan.failures.append(
                SubjectFailure(entry["subject_id"], entry["image"], entry.get("error", ""))
            )
            continue
        src = by_name[entry["part"]] / "subjects" / store.subject_filename(entry["subject_id"])
        meta = store.read_meta(src)
        if meta is None or meta.get("input_hash") != entry["input_hash"]:
            raise CacheError(
                f"{src}: subject file missing or changed since the shard finished; re-run "
                f"shard {entry['part']}"
            )
        found.append(src)
        plan.reused[entry["subject_id"]] = meta
    for src in found:
        parts.link_into(src, work / src.name)
    subjects = [parts.subject_from_row(e) for e in entries]
    versions = records[0]["versions"]
    return finish_cache(
        cache, subjects, plan, dict(settings), cfg, qc=qc, start=start, versions=versions
    )
