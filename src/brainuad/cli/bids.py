"""``brainuad bids``: the BIDS App (participant and group levels)."""

from __future__ import annotations

from pathlib import Path

import typer

from brainuad.errors import ConfigError

LEVELS = ("participant", "group")
_HELP = "\n\n".join(
    [
        "BIDS App: screen T1w scans for anomalies and brain age; BIDS derivatives out.",
        "participant: preprocess and score each selected participant's anat/*_T1w.nii[.gz] "
        "with the model bundle (--model) and write OUTPUT_DIR/brainuad/sub-<label>/"
        "\\[ses-<label>/]anat/<entities>_desc-anomaly_map.nii.gz, its JSON sidecar with every "
        "score, an overview PNG under sub-<label>/figures/ and dataset_description.json. Scans "
        "done before with the same model are skipped; a failing participant is recorded "
        "(sub-<label>/log/status.json), the others finish, and the exit status is 1. Ages come "
        "from participants.tsv (sessions.tsv per session); without one, what needs it is "
        "reported unavailable.",
        "group: one row per scan in OUTPUT_DIR/brainuad/group_scores.tsv (+ .json column "
        "descriptions) and group_report.html (score distributions, flagged scans, failures, "
        "brain-age gap vs age).",
        "Needs pybids: pip install 'brainuad\\[bids]'. On a cluster: one participant per array "
        "task, then the group level once (docs/cluster.md).",
    ]
)
DEVICES = ("auto", "cpu", "cuda")


def bids_command(
    ctx: typer.Context,
    bids_dir: Path = typer.Argument(..., metavar="BIDS_DIR", help="Input BIDS dataset."),
    output_dir: Path = typer.Argument(
        ..., metavar="OUTPUT_DIR", help="Derivatives go to OUTPUT_DIR/brainuad."
    ),
    level: str = typer.Argument(..., metavar="participant|group", help="Analysis level."),
    participant_label: list[str] | None = typer.Option(
        None,
        "--participant-label",
        "--participant_label",
        help="Participants to screen (01 or sub-01; several: --participant-label 01 02). "
        "Default: all.",
    ),
    session_label: list[str] | None = typer.Option(
        None, "--session-label", help="Only these sessions (participant level)."
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model bundle (`brainuad export`); participant level."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Preprocessing worker processes."),
    batch_size: int = typer.Option(
        8, "--batch-size", min=1, help="Participants per group (and scans per model batch)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: when stderr is a TTY)."
    ),
) -> None:
    labels = list(participant_label or [])
    if ctx.args:  # `--participant-label 01 02`: the BIDS-Apps way of giving several labels
        if not labels or any(a.startswith("-") for a in ctx.args):
            raise ConfigError(f"unexpected argument(s): {' '.join(ctx.args)}")
        labels += list(ctx.args)
    if level not in LEVELS:
        raise ConfigError(f"analysis level: expected participant or group, found {level!r}")
    if device not in DEVICES:
        raise ConfigError(f"--device: expected one of {', '.join(DEVICES)}, found {device!r}")
    if level == "group":
        from brainuad.bids import run_group

        if labels or session_label or model is not None:
            raise ConfigError(
                "--participant-label, --session-label and --model apply to the participant level"
            )
        typer.echo(run_group(bids_dir, output_dir).summary())
        return
    from brainuad.bids import run_participants

    if model is None:
        raise ConfigError("the participant level needs --model BUNDLE (a `brainuad export` folder)")
    run = run_participants(
        bids_dir,
        output_dir,
        model,
        participant_labels=labels or None,
        session_labels=session_label,
        device=device,
        jobs=jobs,
        batch_size=batch_size,
        progress=progress,
        log=typer.echo,
    )
    typer.echo(run.summary())
    if run.failed:
        typer.echo(f"error: {len(run.failed)} participant(s) failed or skipped", err=True)
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    """Add ``brainuad bids`` to the CLI."""
    app.command(
        "bids",
        help=_HELP,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
    )(bids_command)
