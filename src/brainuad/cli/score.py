"""``brainuad score``: per-subject anomaly scores of a trained run on a preprocessed cache."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import typer

from brainuad.errors import ConfigError

SPLIT_CHOICES = ("val", "test", "eval", "train", "all")


def score(
    run_dir: Path = typer.Argument(..., help="Training run folder (from `brainuad train`)."),
    cache_dir: Path = typer.Argument(..., help="Preprocessed cache (from `brainuad preprocess`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output scores CSV."),
    split: str = typer.Option(
        "eval", help="Subjects to score: val, test, eval (= val + test), train or all."
    ),
    splits: Path | None = typer.Option(
        None, help="Splits CSV from `brainuad split` (default: the cache's split column)."
    ),
    which: str = typer.Option(
        "last",
        help="Checkpoint: last (after the fixed number of epochs, as the paper) or best (lowest "
        "validation loss).",
    ),
    maps: Path | None = typer.Option(
        None, help="Folder for voxel-wise residual maps (<subject_id>.nii.gz, model space)."
    ),
    batch_size: int = typer.Option(8, min=1, help="Volumes per forward pass."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Score subjects with L_rec (sum of |x - x~| in the brain), L_KL and L_age = |a_p - a_c|."""
    from brainuad.io.atomic import atomic_path
    from brainuad.io.cache import open_cache
    from brainuad.io.lock import file_lock, folder_lock
    from brainuad.scoring import score_run
    from brainuad.splits import read_splits

    if split not in SPLIT_CHOICES:
        raise ConfigError(f"--split: expected one of {', '.join(SPLIT_CHOICES)}, found {split!r}")
    if which not in ("last", "best"):
        raise ConfigError(f"--which: expected last or best, found {which!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device: expected auto, cpu or cuda, found {device!r}")
    cache = open_cache(cache_dir)
    if splits is not None:
        cache = cache.with_splits(read_splits(splits))
    with contextlib.ExitStack() as locks:
        locks.enter_context(file_lock(out, "brainuad score"))
        if maps is not None:
            locks.enter_context(folder_lock(maps, "brainuad score --maps"))
        table = score_run(
            run_dir,
            cache,
            split=split,
            which=which,
            batch_size=batch_size,
            device=device,
            maps_dir=maps,
            progress=sys.stderr.isatty(),
        )
        if table.empty:
            raise ConfigError(
                f"{cache_dir}: no subject in split {split!r} (use --splits or --split all)"
            )
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
    typer.echo(f"scored {len(table)} subjects -> {out}")


def register(app: typer.Typer) -> None:
    app.command("score")(score)
