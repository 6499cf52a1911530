"""``brainuad export`` (a trained study -> model bundle) and ``brainuad predict`` (new scans)."""

from __future__ import annotations

from pathlib import Path

import typer

from brainuad.errors import ConfigError, InputFileError

DEVICES = ("auto", "cpu", "cuda")


def export_command(
    source: Path = typer.Argument(
        ...,
        help="Results folder of `brainuad run` (metrics.json, scores/, runs/, cache/), or a "
        "training run folder of `brainuad train`.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model bundle folder to write."),
    method: str | None = typer.Option(
        None,
        "--method",
        "-m",
        help="Results folder: method to export (one of metrics.json); default: the best "
        "validation AUC of the combined score (the test split never chooses what ships).",
    ),
    which: str | None = typer.Option(
        None,
        "--which",
        help="Checkpoint: last or best (default: the one the study scored, `checkpoint:` of its "
        "config.yaml; last for a training run).",
    ),
    cache: Path | None = typer.Option(
        None, "--cache", help="Training run: its preprocessed cache (default: the recorded one)."
    ),
    splits: Path | None = typer.Option(
        None, "--splits", help="Training run: splits CSV (default: the recorded one)."
    ),
    device: str = typer.Option("auto", "--device", help="Training run: device for scoring."),
) -> None:
    """Export a trained model as a bundle: a folder of plain files for `brainuad predict`.

    From a training run folder, the validation subjects of the cache are scored to choose the
    combined weights (paper grid search) and the operating points.
    """
    from brainuad.io.lock import file_lock

    if which is not None and which not in ("last", "best"):
        raise ConfigError(f"--which: expected last or best, found {which!r}")
    # the bundle folder is replaced as a whole: its lock file lies beside it
    with file_lock(out, "brainuad export"):
        path = _export(source, out, method, which, cache, splits, device)
    _print_bundle(path)


def _export(  # type: ignore[no-untyped-def]
    source, out, method, which, cache, splits, device
) -> Path:
    import json

    from brainuad.bundle import choose_best_method, export_bundle
    from brainuad.bundle.export_run import export_run, is_run_dir

    if is_run_dir(source):
        if method is not None:
            raise ConfigError("--method applies to a results folder; a run holds one model")
        if device not in DEVICES:
            raise ConfigError(f"--device: expected one of {', '.join(DEVICES)}, found {device!r}")
        path = export_run(
            source, out, cache_dir=cache, splits=splits, device=device, which=which or "last"
        )
    else:
        if cache is not None or splits is not None:
            raise ConfigError("--cache and --splits apply to a training run folder")
        if method is None:
            metrics_path = source / "metrics.json"
            if not metrics_path.is_file():
                raise InputFileError(
                    source,
                    "expected a results folder of `brainuad run` (metrics.json) or a training "
                    "run folder (config.json of `brainuad train`)",
                )
            method = choose_best_method(json.loads(metrics_path.read_text(encoding="utf-8")))
        path = export_bundle(source, method, out, which)
    return path


def _print_bundle(path: Path) -> None:
    import json

    record = json.loads((path / "bundle.json").read_text(encoding="utf-8"))
    w = record["combined_weights"]
    typer.echo(f"exported {record['method']} -> {path}")
    typer.echo(f"  combined = {w['alpha']:g} L_rec + {w['beta']:g} L_KL + {w['gamma']:g} L_age")
    for name, p in record["operating_points"].items():
        typer.echo(
            f"  {name}: flag when combined >= {p['threshold']:.6g} (validation sensitivity "
            f"{100 * p['val_sensitivity']:.0f}%, specificity {100 * p['val_specificity']:.0f}%)"
        )
    age = record["training"].get("age_range")
    if age:
        typer.echo(f"  training ages {age['min']:g}-{age['max']:g} years")
    typer.echo(f"  reference: {record['reference']['n']} healthy validation subjects")


def predict_command(
    model_dir: Path = typer.Argument(..., help="Model bundle folder (`brainuad export`)."),
    scans: Path = typer.Argument(
        ...,
        help="One T1 scan (.nii/.nii.gz), a manifest (CSV/TSV: subject_id, image[, age, mask]) "
        "or a BIDS folder.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    age: str | None = typer.Option(
        None, "--age", help="Chronological age in years of a single scan (manifests: column)."
    ),
    subject_id: str | None = typer.Option(
        None, "--id", help="Id of a single scan (default: its file name)."
    ),
    mask: Path | None = typer.Option(
        None, "--mask", help="Brain mask of a single scan (bundles trained with skull_strip mask)."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Scans per model batch."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Preprocessing worker processes."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: when stderr is a TTY)."
    ),
) -> None:
    """Assess new scans: scores with healthy percentiles, flags, brain age, anomaly maps.

    Writes OUT/<id>.json, OUT/<id>_anomaly.nii.gz (on the input scan's grid),
    OUT/<id>_overview.png and one row per scan in OUT/predictions.csv (failures of a manifest in
    OUT/errors.csv; exit status 1 if any scan failed).
    """
    from brainuad.bundle import ScanInput, load_bundle, predict_to_folder, scans_from_cohort
    from brainuad.bundle.predict import scan_id, validate_age
    from brainuad.io.nifti import is_nifti_path

    if device not in DEVICES:
        raise ConfigError(f"--device: expected one of {', '.join(DEVICES)}, found {device!r}")
    single = is_nifti_path(scans)
    if not single and not scans.is_dir() and scans.suffix.lower() not in (".csv", ".tsv"):
        raise InputFileError(
            scans, "expected a NIfTI scan (.nii/.nii.gz), a CSV/TSV manifest or a BIDS folder"
        )
    if not single and (age is not None or subject_id is not None or mask is not None):
        raise ConfigError(
            "--age, --id and --mask apply to a single scan; give them as manifest columns"
        )
    bundle = load_bundle(model_dir, device=device)
    if single:
        if not scans.is_file():
            raise InputFileError(scans, "file not found (expected a NIfTI image)")
        items = [ScanInput(subject_id or scan_id(scans), scans, validate_age(age), mask)]
    else:
        items = scans_from_cohort(scans)
    from brainuad.io.lock import folder_lock

    with folder_lock(out, "brainuad predict"):
        report = predict_to_folder(
            bundle,
            items,
            out,
            batch_size=batch_size,
            jobs=jobs,
            progress=progress,
            stop_on_error=single,
            errors_file=not single,
            on_result=lambda pred, files: typer.echo(_summary(pred, files["json"])),
        )
    typer.echo(
        f"{report.n_ok}/{len(items)} scan(s) assessed in {report.seconds:.1f} s -> "
        f"{report.predictions_csv}"
    )
    if report.failures:
        for sid, _, error in report.failures:
            typer.echo(f"FAILED {sid}: {error}", err=True)
        typer.echo(f"failures listed in {report.errors_csv}", err=True)
        # SystemExit, not typer.Exit: main() drops the exit code click returns for typer.Exit
        # in non-standalone mode, so `brainuad predict` would otherwise exit 0
        raise SystemExit(1)


def _summary(pred, json_path: Path) -> str:  # type: ignore[no-untyped-def]
    parts = [f"{pred.subject_id}:"]
    c, pct = pred.scores["combined"], pred.percentiles["combined"]
    if c is None:
        parts.append("combined score unavailable;")
    else:
        parts.append(f"combined {c:.4g} ({pct:.0f}th percentile of healthy);")
        flags = ", ".join(f"{n} {'FLAGGED' if f else 'not flagged'}" for n, f in pred.flags.items())
        parts.append(flags + ";")
    if pred.age_pred is not None:
        gap = "" if pred.brain_age_gap is None else f", gap {pred.brain_age_gap:+.1f}"
        parts.append(f"brain age {pred.age_pred:.1f}{gap};")
    if pred.warnings:
        parts.append(f"{len(pred.warnings)} warning(s);")
    parts.append(f"-> {json_path}")
    return " ".join(parts)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
    app.command("predict")(predict_command)
