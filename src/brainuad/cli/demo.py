"""``brainuad demo``: synthetic cohort -> whole study -> report, on this machine's CPU."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Output folder."),
    n_normal: int = typer.Option(100, min=20, help="Healthy synthetic subjects."),
    n_anomalous: int = typer.Option(30, min=4, help="Synthetic subjects with a glioma."),
    preset: str = typer.Option("cpu", help="Training preset: cpu, tiny or paper."),
    epochs: int | None = typer.Option(None, min=1, help="Override the preset's epochs."),
    n_resamples: int = typer.Option(10_000, min=100, help="Bootstrap resamples for the CIs."),
    skull_strip: str = typer.Option(
        "deepbet", help="deepbet or none (synthetic heads have skull)."
    ),
    seed: int = typer.Option(0, help="Seed of the cohort, the splits and the training."),
    jobs: int | None = typer.Option(None, min=1, help="Worker processes (default: all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run the paper's study on a synthetic cohort: VAE, VAE-a_c and VAE-a_p, Table 1, report.

    Re-running continues an interrupted demo and reuses everything already computed.
    """
    from brainuad.cli.run import print_result
    from brainuad.experiment.demo import demo_config, run_demo

    cfg = demo_config(
        n_normal=n_normal,
        n_anomalous=n_anomalous,
        preset=preset,
        epochs=epochs,
        n_resamples=n_resamples,
        skull_strip=skull_strip,
        seed=seed,
        jobs=jobs,
    )
    start = time.perf_counter()
    result = run_demo(out, cfg, progress=not quiet, log=lambda m: typer.echo(m, err=True))
    print_result(result, time.perf_counter() - start)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
