"""``brainuad run CONFIG.yaml``: the whole study, resumable stage by stage."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def run(
    config: Path = typer.Argument(
        ..., help="Study config (YAML); see `brainuad.experiment.config`."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Preprocess -> split -> train -> score -> evaluate -> report.

    The config's ``methods`` are trained (any registered method, see `brainuad train --help`;
    default: VAE, VAE-a_c and VAE-a_p). Stages whose inputs and settings did not change are
    skipped, and a killed run resumes where it stopped (training continues from its last
    checkpoint).
    """
    from brainuad.experiment.config import load_study_config
    from brainuad.experiment.runner import run_study
    from brainuad.io.lock import folder_lock

    cfg = load_study_config(config)
    start = time.perf_counter()
    with folder_lock(cfg.output, "brainuad run", clean="tree"):
        result = run_study(cfg, progress=not quiet, log=lambda m: typer.echo(m, err=True))
    print_result(result, time.perf_counter() - start)


def print_result(result, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Table 1 and the paths of the results, on stdout."""
    typer.echo("")
    typer.echo("Table 1 (test set; combined score; 95% BCa intervals in brackets)")
    typer.echo(result.table1)
    typer.echo("")
    typer.echo(f"metrics: {result.metrics_path}")
    if result.report_path is not None:
        typer.echo(f"report:  {result.report_path}")
    if result.bundle_path is not None:
        typer.echo(f"model:   {result.bundle_path}")
    typer.echo(f"done in {seconds / 60:.1f} min")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
