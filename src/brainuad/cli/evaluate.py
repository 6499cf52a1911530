"""``brainuad evaluate``: metrics with BCa intervals, combined-score weights, paired tests.

Reads one or more scores tables (``brainuad score`` output), evaluates every method (weights of
the combined score chosen on ``val`` by exact grid search; AUC, AUPRC and specificity at 100%
sensitivity on ``test`` with BCa bootstrap intervals; MAE_N / MAE_A), compares every pair of
methods, writes ``metrics.json`` (schema: :mod:`brainuad.evaluation.report`) and ``metrics.csv``
beside it, and prints the paper's Table 1 (the combined score of each method).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from brainuad.errors import ConfigError, InputFileError

if TYPE_CHECKING:
    import pandas as pd

# brainuad.evaluation (numpy, scipy, pandas) is imported inside the command, keeping the
# start-up of every other `brainuad` command fast.


def parse_grid(text: str, option: str) -> list[float]:
    """Parse ``START:STOP:STEP`` (decimals, end included) into grid values."""
    from brainuad.evaluation.grid import decimal_grid

    parts = text.split(":")
    if len(parts) != 3:
        raise ConfigError(f"{option}: expected START:STOP:STEP (e.g. 0:2:0.001), found {text!r}")
    try:
        return decimal_grid(*parts).tolist()
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from exc


def _load(paths: list[Path]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    from brainuad.evaluation.scores_table import read_scores

    tables: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    for path in paths:
        for method, frame in read_scores(path).items():
            if method in tables:
                raise InputFileError(
                    path, f"expected each method once, found {method!r} also in {sources[method]}"
                )
            tables[method], sources[method] = frame, str(path)
    return tables, sources


HELP = (
    "Evaluate anomaly scores: the paper's Table 1 metrics with BCa CIs, and paired tests.\n\n"
    "Per method, the combined score alpha*L_rec + L_KL + gamma*L_age is tuned on the val split "
    "(exact AUC at every grid point; ties go to the smallest alpha, then the smallest gamma). "
    "Every score (rec, kl, age, combined) then gets AUC, AUPRC and specificity at 100% "
    "sensitivity on the test split with BCa bootstrap intervals (stratified resamples), plus "
    "MAE_N / MAE_A of the age prediction. Every pair of methods is compared on the combined "
    "score (paired bootstrap and DeLong). Table 1 shows each method's combined score."
)


def evaluate(
    scores: list[Path] = typer.Argument(
        ...,
        metavar="SCORES.csv",
        help="Scores CSV file(s) from `brainuad score` (subject_id, split, label, rec, kl, "
        "age, age_pred, age_abs_error, method); one or more methods each.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="metrics.json to write; metrics.csv is written beside it."
    ),
    n_resamples: int = typer.Option(
        10_000, "--n-resamples", min=1, help="Bootstrap resamples for the BCa intervals."
    ),
    seed: int = typer.Option(0, help="Random seed of the bootstrap (same seed, same numbers)."),
    confidence: float = typer.Option(0.95, help="Confidence level of the intervals."),
    alpha_grid: str = typer.Option(
        "0:2:0.001", help="Grid of alpha (weight of L_rec), START:STOP:STEP."
    ),
    gamma_grid: str = typer.Option(
        "0:20:0.01", help="Grid of gamma (weight of L_age; 0 without an age head)."
    ),
    localisation: list[Path] = typer.Option(
        [],
        "--localisation",
        help="Voxel-level record(s) of a study (RESULTS/localisation/<method>.json) to copy "
        "into metrics.json under 'localisation' (the report's Table 2).",
    ),
) -> None:
    """Evaluate scores tables; see :data:`HELP` (the command's --help)."""
    from brainuad.evaluation.bootstrap import check_confidence
    from brainuad.evaluation.report import (
        csv_path_for,
        format_comparisons,
        format_score_table,
        format_table1,
        write_metrics,
    )
    from brainuad.evaluation.study import evaluate_methods
    from brainuad.experiment.localise import read_localisation

    check_confidence(confidence)
    csv_path_for(out)
    alphas = parse_grid(alpha_grid, "--alpha-grid")
    gammas = parse_grid(gamma_grid, "--gamma-grid")
    from brainuad.io.lock import file_lock

    with file_lock(out, "brainuad evaluate"):
        tables, sources = _load(scores)
        records = read_localisation(localisation)  # checked before anything is written
        start = time.perf_counter()
        typer.echo(
            f"evaluating {len(tables)} method(s) with {n_resamples} BCa resamples...", err=True
        )
        study = evaluate_methods(
            tables,
            sources=sources,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            alphas=alphas,
            gammas=gammas,
        )
        json_path, csv_path = write_metrics(study, out, records)
        pct = f"{100 * confidence:g}%"
        typer.echo(f"Table 1: combined score on the test split ({pct} BCa CIs in brackets)")
        typer.echo(format_table1(study))
        typer.echo(f"\nTest AUC (%) of each score ({pct} CIs); weights chosen on val")
        typer.echo(format_score_table(study))
        if study.comparisons or study.skipped:
            typer.echo("\nPaired tests of the combined score's AUC (A minus B)")
            typer.echo(format_comparisons(study))
        typer.echo(
            f"\nwrote {json_path} and {csv_path} in {time.perf_counter() - start:.1f} s", err=True
        )


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the ``brainuad`` command."""
    app.command("evaluate", help=HELP)(evaluate)
