"""``brainuad cache merge``: assemble the parts of a sharded preprocessing run into the cache."""

from __future__ import annotations

from pathlib import Path

import typer

cache_app = typer.Typer(
    help="Work on a preprocessed cache (merge the parts of `brainuad preprocess --shard`).",
    no_args_is_help=True,
)


_MERGE_HELP = "\n\n".join(
    [
        "Assemble CACHE_DIR/parts/* (from `brainuad preprocess ... --shard I/N`) into the cache.",
        "Checks that all N shards are there exactly once, made with the same settings "
        "fingerprint, tool versions and manifest, and that every subject is in exactly one part; "
        "then writes the cache an unsharded run writes (the same bytes, but for the recorded "
        "seconds each subject took) and removes the parts. Safe to re-run after a kill (same "
        "bytes); a second merge of the same folder at the same time is refused.",
        "Exit status: 0 merged (or nothing to merge), 1 with --strict if a subject failed in a "
        "shard, 2 for a missing, doubled or mismatched part, 3 for a folder in use or a write "
        "the system refused.",
    ]
)


@cache_app.command("merge", help=_MERGE_HELP)
def merge_command(
    cache_dir: Path = typer.Argument(
        ..., metavar="CACHE_DIR", help="Cache folder whose parts/ the shards wrote."
    ),
    qc: bool = typer.Option(
        False, "--qc", help="Also write CACHE_DIR/qc/montage.png (mid-slices) and qc/qc.csv."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any subject failed."),
) -> None:
    """Assemble the parts of a sharded run into the cache (see _MERGE_HELP)."""
    from brainuad.preprocessing.shards import merge_parts

    result = merge_parts(cache_dir, qc=qc)
    typer.echo(result.summary())
    report = result.report
    if strict and report is not None and report.failures:
        typer.echo(
            f"error: {len(report.failures)} subject(s) failed (--strict); see {report.errors_path}",
            err=True,
        )
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    """Add ``brainuad cache`` to the CLI."""
    app.add_typer(cache_app, name="cache")
