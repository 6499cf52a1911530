"""``brainuad demo``: synthetic cohort -> whole study -> report, on this machine's CPU.

Every default of the demo lives in :class:`brainuad.experiment.demo.DemoConfig`; the options
below only override it (their help shows the defaults read from there).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from brainuad.experiment.demo import DemoConfig

_D = DemoConfig()


def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Output folder."),
    n_normal: int | None = typer.Option(
        None, min=20, help=f"Healthy synthetic subjects (default: {_D.n_normal})."
    ),
    n_anomalous: int | None = typer.Option(
        None, min=4, help=f"Synthetic subjects with a glioma (default: {_D.n_anomalous})."
    ),
    preset: str | None = typer.Option(
        None, help=f"Training preset: cpu, tiny or paper (default: {_D.preset})."
    ),
    epochs: int | None = typer.Option(
        None, min=1, help=f"Training epochs (default: {_D.epochs or 'the preset'})."
    ),
    n_resamples: int | None = typer.Option(
        None, min=100, help=f"Bootstrap resamples for the CIs (default: {_D.n_resamples})."
    ),
    skull_strip: str | None = typer.Option(
        None,
        help="mask (the synthetic cohort's true brain masks), deepbet (the CNN, about 2.5 s "
        f"more per scan) or none (default: {_D.skull_strip}).",
    ),
    voxel_size: float | None = typer.Option(
        None,
        help="Voxel size (mm) of the synthetic scans; preprocessing resamples them to 1 mm "
        f"(default: {_D.voxel_size:g}).",
    ),
    seed: int | None = typer.Option(
        None, help=f"Seed of the cohort, the splits and the training (default: {_D.seed})."
    ),
    jobs: int | None = typer.Option(None, min=1, help="Worker processes (default: all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run the paper's study on a synthetic cohort: VAE, VAE-a_c and VAE-a_p, Table 1, report.

    Re-running continues an interrupted demo and reuses everything already computed.
    """
    from brainuad.cli.run import print_result
    from brainuad.errors import ConfigError
    from brainuad.experiment.demo import demo_config, run_demo

    if skull_strip is not None and skull_strip not in ("mask", "deepbet", "none"):
        raise ConfigError(f"--skull-strip: expected mask, deepbet or none, found {skull_strip!r}")
    cfg = demo_config(
        n_normal=n_normal,
        n_anomalous=n_anomalous,
        preset=preset,
        epochs=epochs,
        n_resamples=n_resamples,
        skull_strip=skull_strip,
        voxel_size=voxel_size,
        seed=seed,
        jobs=jobs,
    )
    from brainuad.io.lock import folder_lock

    start = time.perf_counter()
    with folder_lock(out, "brainuad demo", clean="tree"):
        result = run_demo(out, cfg, progress=not quiet, log=lambda m: typer.echo(m, err=True))
    print_result(result, time.perf_counter() - start)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
