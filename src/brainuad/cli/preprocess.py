"""``brainuad preprocess``: raw T1 scans of a cohort -> the model-ready cache."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from brainuad.preprocessing import load_config, preprocess_cohort

_HELP = "\n\n".join(
    [
        "Preprocess a cohort of T1 scans into CACHE_DIR (paper section 2.1).",
        "Per scan: reorient to RAS+, 1 mm isotropic, skull stripping (deepbet CNN, offline, for "
        "heads with skull; scans already skull-stripped get their mask from the image), "
        "affine registration to the MNI152 brain with a similarity check, one resampling onto a "
        "160x192x166 grid of 1 mm voxels, N4 bias-field correction, curvature-flow denoising, "
        "percentile standardisation to [0, 1] inside the brain, anti-aliased 2.5x downsampling "
        "to 64x77x66.",
        "Re-running adds new subjects and reuses unchanged ones (CACHE_DIR/subjects/). A subject "
        "that fails is listed in CACHE_DIR/errors.csv and the summary while the others go on; "
        "the cache is switched over atomically at the end.",
        "Clusters: --shard I/N preprocesses a deterministic 1/N of the subjects into "
        "CACHE_DIR/parts/I-of-N (one array task each); `brainuad cache merge CACHE_DIR` (or the "
        "next run without --shard) assembles the parts into the same cache an unsharded run "
        "writes. --executor dask runs the subjects on a Dask cluster (pip install "
        "'brainuad\\[dask]'; see docs/cluster.md).",
        "Exit status: 0 when the cache (or the shard's part) was written (1 with --strict if any "
        "subject failed), 1 when no subject succeeded, 2 for bad input files or settings, 3 when "
        "the system refused a write (full disk, read-only folder) or the folder is in use by "
        "another brainuad process (docs/cli-contract.md).",
    ]
)


def preprocess(
    cohort: Path = typer.Argument(
        ..., metavar="MANIFEST_OR_BIDS", help="Cohort manifest (CSV/TSV) or BIDS dataset folder."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Cache folder to create or update."),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", min=1, help="Worker processes (default: number of CPU cores)."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML/JSON file of preprocessing settings (keys of "
        "PreprocessConfig, e.g. skull_strip, register, n4, denoise, crop_shape, target_shape).",
    ),
    skull_strip: str | None = typer.Option(
        None,
        "--skull-strip",
        help="auto (default: checks each scan; heads with skull go through deepbet, scans "
        "already skull-stripped with a zero background, e.g. BraTS, get their mask from the "
        "image) | deepbet (CNN for every scan) | mask (manifest 'mask' column) | none (every "
        "scan is already skull-stripped). Overrides the config file.",
    ),
    register: bool | None = typer.Option(
        None, "--register/--no-register", help="Affine registration to the MNI152 brain."
    ),
    n4: bool | None = typer.Option(None, "--n4/--no-n4", help="N4 bias-field correction."),
    denoise: bool | None = typer.Option(
        None, "--denoise/--no-denoise", help="Curvature-flow denoising."
    ),
    qc: bool = typer.Option(
        False, "--qc", help="Also write CACHE_DIR/qc/montage.png (mid-slices) and qc/qc.csv."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any subject failed."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: when stderr is a TTY)."
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        metavar="I/N",
        help="Preprocess only shard I of N (1-based; subjects sorted by id, dealt round-robin) "
        "into CACHE_DIR/parts/I-of-N; merge with `brainuad cache merge CACHE_DIR`.",
    ),
    executor: str = typer.Option(
        "local",
        "--executor",
        help="local (process pool of --jobs workers) | dask (Dask distributed; needs "
        "pip install 'brainuad\\[dask]').",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        metavar="ADDRESS",
        help="--executor dask: scheduler address (tcp://host:8786) or scheduler-file path; "
        "default: a local Dask cluster of --jobs workers.",
    ),
) -> None:
    from brainuad.errors import ConfigError

    cfg = load_config(config, skull_strip=skull_strip, register=register, n4=n4, denoise=denoise)
    show = sys.stderr.isatty() if progress is None else progress
    run = dict(config=cfg, jobs=jobs, progress=show, executor=executor, scheduler=scheduler)
    if shard is not None:
        from brainuad.preprocessing.shards import preprocess_shard

        if qc:
            raise ConfigError("--qc applies to the whole cache: give it to `brainuad cache merge`")
        report = preprocess_shard(cohort, out, shard, **run)
    else:  # a shard locks only its part folder: the N shards of one cache run at once
        from brainuad.io.lock import folder_lock

        with folder_lock(out, "brainuad preprocess", clean="tree"):
            report = preprocess_cohort(cohort, out, qc=qc, **run)
    typer.echo(report.summary())
    if shard is not None:
        typer.echo(f"when every shard is done: brainuad cache merge {out}")
    if report.n_ok == 0 and report.n_subjects > 0:
        typer.echo(f"error: no subject could be preprocessed; see {report.errors_path}", err=True)
        raise typer.Exit(1)
    if strict and report.failures:
        typer.echo(
            f"error: {len(report.failures)} subject(s) failed (--strict); see {report.errors_path}",
            err=True,
        )
        raise typer.Exit(1)


preprocess.__doc__ = _HELP


def register(app: typer.Typer) -> None:
    """Add ``brainuad preprocess`` to the CLI."""
    app.command("preprocess", help=_HELP)(preprocess)
