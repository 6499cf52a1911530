"""``brainuad report``: a self-contained HTML report of a results folder."""

from __future__ import annotations

from pathlib import Path

import typer

HELP = (
    "Write an HTML report of a results folder (from `brainuad run`): the paper's Table 1 and "
    "Figure 2 with BCa CIs, ROC/PR curves of the combined score, brain-age scatter, chosen "
    "weights, paired tests, example slices with residual heat maps, training curves, cohort, "
    "configuration and run timings.\n\n"
    "Reads only saved artefacts (metrics.json and scores/ are required; examples/, runs/, "
    "splits.csv, config.yaml and run_state.json are shown when present). Writes "
    "RESULTS_DIR/report/ (or --out): report.html (self-contained, images embedded), figures/ "
    "(PNG + PDF) and tables/ (CSV + Markdown). Prints the path of report.html."
)


def report(
    results_dir: Path = typer.Argument(
        ..., metavar="RESULTS_DIR", help="Results folder with metrics.json and scores/."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Report folder to write (replaced as a whole); default RESULTS_DIR/report.",
    ),
) -> None:
    """Write the report; see :data:`HELP` (the command's --help)."""
    from brainuad.io.lock import file_lock, folder_lock
    from brainuad.reports import write_report

    # the report folder is replaced as a whole: by default the lock is RESULTS_DIR's (a `brainuad
    # run` writing it refuses the report), with --out a lock file beside the report folder
    lock = folder_lock(results_dir, "brainuad report") if out is None else file_lock(out)
    with lock:
        typer.echo(str(write_report(results_dir, out)))


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``brainuad`` command."""
    app.command("report", help=HELP)(report)
