"""The whole study of the paper on one cohort, resumable stage by stage (``brainuad run``).

preprocess (cached, incremental) -> age-stratified split -> train each method of the config
(:mod:`brainuad.methods`) -> score validation and test (``checkpoint``: ``last`` by default) ->
voxel localisation with lesion masks (:mod:`.localise`) -> the ridge brain-age reference ->
grid-search the combined weights on validation and evaluate on test -> report -> model bundle
of the method with the best validation AUC.

Results folder::

    config.yaml  run_state.json  cache/  splits.csv  runs/<method>/  scores/<method>.csv  report/
    examples/<method>.npz  localisation/<method>.{json,npz}  brain_age/ridge.csv  metrics.json
    metrics.csv  model/

Every stage is skipped when its fingerprint (inputs + settings, see
:mod:`brainuad.experiment.state`) matches the last finished run and its outputs exist. Training
checkpoints every epoch and resumes, so a run killed anywhere continues where it stopped.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainuad.errors import CacheError, ConfigError
from brainuad.experiment import localise
from brainuad.experiment.config import (
    StudyConfig,
    cohort_paths,
    dump_study_config,
    read_study_cohort,
)
from brainuad.experiment.state import RunState, file_digest, fingerprint, package_versions
from brainuad.io.atomic import atomic_path, write_text_atomic
from brainuad.io.cache import Cache, open_cache
from brainuad.io.manifest import Cohort
from brainuad.splits import SplitSpec, assign_splits, write_splits

Log = Callable[[str], None]


@dataclass(frozen=True)
class StudyResult:
    """Where a finished study put its results."""

    output: Path
    metrics_path: Path
    report_path: Path | None
    bundle_path: Path | None
    table1: str
    stages_run: tuple[str, ...]


def run_study(config: StudyConfig, *, progress: bool = True, log: Log = print) -> StudyResult:
    """Run (or resume) the whole study described by ``config``; see the module docstring."""
    from brainuad.preprocessing import PreprocessConfig
    from brainuad.preprocessing.config import check_cohort_fits

    out = config.output
    # everything knowable from the inputs is checked before the output folder is written
    cohort = read_study_cohort(config)
    check_cohort_fits(PreprocessConfig.from_mapping(config.preprocess), cohort)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", dump_study_config(config))
    state = RunState(out / "run_state.json")
    state.data["versions"] = package_versions()
    ran: list[str] = []

    cache = _preprocess(config, cohort, state, progress, log, ran)
    splits_path, cache = _split(config, cohort, cache, state, log, ran)
    score_fps: dict[str, str | None] = {}
    for method in config.methods:
        train_fp = _train(config, method, cache, splits_path, state, progress, log, ran)
        score_fps[method] = _score(config, method, cache, train_fp, state, progress, log, ran)
        score_fps[f"localise:{method}"] = localise.run_localise(
            config, method, cache, train_fp, state, log, ran
        )
    ridge_fp = _ridge(config, cache, splits_path, state, log, ran)
    metrics_path, table1 = _evaluate(config, score_fps, ridge_fp, state, log, ran)
    report_path = _report(config, metrics_path, state, log, ran) if config.report else None
    bundle_path = _bundle(config, metrics_path, cache, state, log, ran)
    return StudyResult(out, metrics_path, report_path, bundle_path, table1, tuple(ran))


def _stage_log(log: Log, name: str, skipped: bool) -> None:
    log(f"[{name}] up to date, skipped" if skipped else f"[{name}] running")


def _preprocess(
    config: StudyConfig,
    cohort: Cohort,
    state: RunState,
    progress: bool,
    log: Log,
    ran: list[str],
) -> Cache:
    from brainuad.preprocessing import PreprocessConfig, preprocess_cohort

    cache_dir = config.output / "cache"
    try:
        prep_cfg = PreprocessConfig.from_mapping(config.preprocess)
    except ConfigError as exc:
        raise ConfigError(f"{config.output / 'config.yaml'}: preprocess: {exc}") from exc
    sources = ", ".join(str(p) for p in cohort_paths(config))
    log(f"[preprocess] {len(cohort)} scans from {sources}")
    started = state.start("preprocess", fingerprint(prep_cfg.settings(), cohort.ids))
    report = preprocess_cohort(
        cohort, cache_dir, config=prep_cfg, jobs=config.jobs, progress=progress
    )
    if report.failures:
        log(f"[preprocess] {len(report.failures)} scan(s) failed, see {report.errors_path}")
    if report.n_ok == 0:
        first = report.failures[0] if report.failures else None
        reason = f"; first: {first.subject_id}: {first.error}" if first else ""
        raise CacheError(
            f"{report.errors_path}: preprocessing failed for every scan "
            f"({len(report.failures)} of {report.n_subjects}){reason}"
        )
    for line in report.comparability.summary_lines() if report.comparability else ():
        log(f"[preprocess] {line}")
    if report.n_processed:
        ran.append("preprocess")
    cache = open_cache(cache_dir)
    state.finish(
        "preprocess",
        started,
        n_ok=len(cache),
        n_failed=len(report.failures),
        n_processed=report.n_processed,
        n_reused=report.n_reused,
    )
    return cache


def _cache_fp(cache: Cache) -> str:
    """Content fingerprint of a cache: settings + which inputs (by hash) it holds, in order.

    The cache files are rewritten with new names on every preprocessing run, so their bytes
    are no use here; the per-subject input hashes identify the content."""
    table = cache.subjects
    cols = [c for c in ("subject_id", "age", "label", "input_hash") if c in table]
    return fingerprint(cache.fingerprint, table[cols].astype(str).to_numpy().tolist())


def _split(
    config: StudyConfig, cohort: Cohort, cache: Cache, state: RunState, log: Log, ran: list[str]
) -> tuple[Path, Cache]:
    path = config.output / "splits.csv"
    given = {s.subject_id: s.split for s in cohort if s.split}
    spec = SplitSpec(config.healthy_split, config.anomalous_split, config.seed)
    fp = fingerprint(
        cohort.ids, [s.age for s in cohort], [s.label for s in cohort], given, spec.__dict__
    )
    if not state.is_done("split", fp, [path]):
        _stage_log(log, "split", False)
        started = state.start("split", fp)
        if len(given) == len(cohort):
            splits = given  # the manifest's own split column
        else:
            splits = assign_splits(cohort, spec)
        write_splits(path, cohort, splits)
        state.finish("split", started, source="manifest" if given else "age-stratified")
        ran.append("split")
    from brainuad.splits import read_splits

    cache = cache.with_splits(read_splits(path))
    counts = {n: len(cache.indices(split=n)) for n in ("train", "val", "test")}
    log(f"[split] train {counts['train']}, val {counts['val']}, test {counts['test']}")
    if counts["train"] == 0 or counts["val"] == 0 or counts["test"] == 0:
        raise CacheError(
            f"{path}: every split needs subjects (train {counts['train']}, val {counts['val']}, "
            f"test {counts['test']}); add scans or change split sizes"
        )
    return path, cache


def _train_config(config: StudyConfig):  # type: ignore[no-untyped-def]
    from brainuad.training.config import TrainConfig, preset

    base = preset(config.preset).to_dict()
    base.update(config.train_overrides)
    base["seed"] = config.seed
    if config.epochs is not None:
        base["epochs"] = config.epochs
    return TrainConfig.from_dict(base)


def _train(
    config: StudyConfig,
    method: str,
    cache: Cache,
    splits_path: Path,
    state: RunState,
    progress: bool,
    log: Log,
    ran: list[str],
) -> str:
    from brainuad.training import train
    from brainuad.training.checkpoint import checkpoint_path

    run_dir = config.output / "runs" / method
    tcfg = _train_config(config)
    stage = f"train:{method}"
    fp = fingerprint(_cache_fp(cache), file_digest(splits_path), tcfg.to_dict(), method)
    done = checkpoint_path(run_dir, config.checkpoint)
    if state.is_done(stage, fp, [done]):
        _stage_log(log, stage, True)
        return fp
    resume = state.started_with(stage) == fp and checkpoint_path(run_dir, "last").exists()
    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)  # settings or data changed: the old run is stale
    log(
        f"[{stage}] {'resuming' if resume else 'training'}"
        f" ({tcfg.preset} preset, {tcfg.epochs} epochs)"
    )
    started = state.start(stage, fp)
    try:
        result = train(
            cache.root,
            method,
            run_dir,
            tcfg,
            splits=splits_path,
            resume=resume,
            device=config.device,
            progress=progress,
        )
    except BaseException:
        state.interrupted(stage, started)
        raise
    state.finish(stage, started, best_epoch=result.best_epoch, best_value=result.best_value)
    ran.append(stage)
    return fp


def _score(
    config: StudyConfig,
    method: str,
    cache: Cache,
    train_fp: str,
    state: RunState,
    progress: bool,
    log: Log,
    ran: list[str],
) -> str:
    from brainuad import scoring
    from brainuad.preprocessing import load_lesions
    from brainuad.training import load_checkpoint

    stage = f"score:{method}"
    scores_path = config.output / "scores" / f"{method}.csv"
    examples_path = config.output / "examples" / f"{method}.npz"
    fp = fingerprint(train_fp, "score-v3", config.checkpoint)
    if state.is_done(stage, fp, [scores_path, examples_path]):
        _stage_log(log, stage, True)
        return fp
    _stage_log(log, stage, False)
    started = state.start(stage, fp)
    run_dir = config.output / "runs" / method
    model, _ = load_checkpoint(run_dir, config.checkpoint, expected_shape=cache.shape)
    table = scoring.score_cache(
        model,
        cache,
        method=method,
        indices=scoring.select_indices(cache, "eval"),
        device=config.device,
        progress=progress,
    )
    with atomic_path(scores_path) as tmp:
        table.to_csv(tmp, index=False)
    picks = scoring.choose_examples(cache, "test", per_class=2)
    lesions = load_lesions(cache)
    arrays = scoring.example_slices(
        model,
        cache,
        picks,
        lesions=None if lesions is None else np.asarray(lesions),
    )
    scoring.save_examples(examples_path, arrays)
    state.finish(stage, started, n_scored=len(table), checkpoint=config.checkpoint)
    ran.append(stage)
    return fp


def _ridge(
    config: StudyConfig,
    cache: Cache,
    splits_path: Path,
    state: RunState,
    log: Log,
    ran: list[str],
) -> str:
    """The ridge-regression brain-age reference (:mod:`brainuad.scoring.ridge_age`)."""
    from brainuad.scoring.ridge_age import ridge_age_table

    path = config.output / "brain_age" / "ridge.csv"
    fp = fingerprint(_cache_fp(cache), file_digest(splits_path), "ridge-v1")
    if state.is_done("brain-age", fp, [path]):
        _stage_log(log, "brain-age", True)
        return fp
    _stage_log(log, "brain-age", False)
    started = state.start("brain-age", fp)
    table = ridge_age_table(cache)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    state.finish("brain-age", started, alpha=table.attrs.get("alpha"))
    ran.append("brain-age")
    return fp


def _evaluate(
    config: StudyConfig,
    score_fps: dict[str, str | None],
    ridge_fp: str,
    state: RunState,
    log: Log,
    ran: list[str],
) -> tuple[Path, str]:
    import pandas as pd

    from brainuad.evaluation import evaluate_methods, format_table1, write_metrics
    from brainuad.evaluation.brainage import read_age_predictions
    from brainuad.evaluation.scores_table import validate_scores_frame

    metrics_path = config.output / "metrics.json"
    fp = fingerprint(score_fps, ridge_fp, config.n_resamples, config.confidence, config.seed)
    paths = {m: config.output / "scores" / f"{m}.csv" for m in config.methods}
    tables = {m: validate_scores_frame(pd.read_csv(p), p) for m, p in paths.items()}
    ridge_path = config.output / "brain_age" / "ridge.csv"
    ridge = read_age_predictions(
        str(ridge_path), pd.read_csv(ridge_path, dtype={"subject_id": str})
    )
    if state.is_done("evaluate", fp, [metrics_path]):
        _stage_log(log, "evaluate", True)
        from brainuad.evaluation import format_table1_from_dict

        doc = localise.read_json(metrics_path)
        return metrics_path, _summary(format_table1_from_dict(doc), doc)
    _stage_log(log, "evaluate", False)
    started = state.start("evaluate", fp)
    study = evaluate_methods(
        tables,
        sources={m: str(p) for m, p in paths.items()},
        n_resamples=config.n_resamples,
        seed=config.seed,
        confidence=config.confidence,
        brain_age={"ridge": ridge},
    )
    write_metrics(study, metrics_path, localise.study_localisation(config.output, config.methods))
    state.finish("evaluate", started)
    ran.append("evaluate")
    return metrics_path, _summary(format_table1(study), study.to_dict())


def _summary(table1: str, doc: dict) -> str:
    from brainuad.evaluation.report import format_study_summary

    rest = format_study_summary(doc)
    return f"{table1}\n\n{rest}" if rest else table1


def _report(
    config: StudyConfig, metrics_path: Path, state: RunState, log: Log, ran: list[str]
) -> Path:
    from brainuad.reports import write_report

    fp = fingerprint(file_digest(metrics_path), state.data["stages"].get("evaluate", {}))
    out = config.output / "report" / "report.html"
    if state.is_done("report", fp, [out]):
        _stage_log(log, "report", True)
        return out
    _stage_log(log, "report", False)
    started = state.start("report", fp)
    path = write_report(config.output)
    state.finish("report", started)
    ran.append("report")
    return Path(path)


def _bundle(
    config: StudyConfig,
    metrics_path: Path,
    cache: Cache,
    state: RunState,
    log: Log,
    ran: list[str],
) -> Path | None:
    try:
        from brainuad.bundle import export_best
    except ImportError:
        return None
    out = config.output / "model"
    fp = fingerprint(file_digest(metrics_path), _cache_fp(cache))
    if state.is_done("bundle", fp, [out / "bundle.json"]):
        _stage_log(log, "bundle", True)
        return out
    _stage_log(log, "bundle", False)
    started = state.start("bundle", fp)
    path = export_best(config.output, out)
    state.finish("bundle", started)
    ran.append("bundle")
    return Path(path)
