"""``brainuad validate`` and ``brainuad split``: check a cohort, make age-stratified splits."""

from __future__ import annotations

from pathlib import Path

import typer

from brainuad.io.manifest import read_cohort
from brainuad.splits import (
    PAPER_ANOMALOUS,
    PAPER_HEALTHY,
    SplitSpec,
    assign_splits,
    parse_sizes,
    write_splits,
)

_DEF_H = ",".join(str(v) for v in PAPER_HEALTHY)
_DEF_A = ",".join(str(v) for v in PAPER_ANOMALOUS)


def validate(
    cohort: Path = typer.Argument(..., help="Manifest (CSV/TSV) or BIDS dataset folder."),
) -> None:
    """Check a cohort manifest or BIDS folder and print a summary; exit 2 listing every problem."""
    c = read_cohort(cohort)
    ages = [s.age for s in c if s.age is not None]
    n_anom = sum(s.label for s in c)
    typer.echo(
        f"{c.source}: {len(c)} scans ({len(c) - n_anom} normal, {n_anom} anomalous), "
        f"age {min(ages):.1f}-{max(ages):.1f} years (mean {sum(ages) / len(ages):.1f})"
    )


def split(
    cohort: Path = typer.Argument(..., help="Manifest (CSV/TSV) or BIDS dataset folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output CSV: subject_id,split,label,age."),
    healthy: str = typer.Option(
        _DEF_H, help="Healthy train,val,test sizes: counts summing to the total, or proportions."
    ),
    anomalous: str = typer.Option(
        _DEF_A, help="Anomalous val,test sizes: counts summing to the total, or proportions."
    ),
    seed: int = typer.Option(0, help="Random seed (same seed, same splits)."),
) -> None:
    """Split a cohort into train/val/test, stratified by age (healthy only in train)."""
    c = read_cohort(cohort)
    spec = SplitSpec(
        healthy=parse_sizes(healthy, 3, "--healthy"),  # type: ignore[arg-type]
        anomalous=parse_sizes(anomalous, 2, "--anomalous"),  # type: ignore[arg-type]
        seed=seed,
    )
    from brainuad.io.lock import file_lock

    splits = assign_splits(c, spec)
    with file_lock(out, "brainuad split"):
        write_splits(out, c, splits)
    for name in ("train", "val", "test"):
        members = [s for s in c if splits[s.subject_id] == name]
        n_anom = sum(s.label for s in members)
        ages = [s.age for s in members if s.age is not None]
        mean = f"{sum(ages) / len(ages):.1f}" if ages else "-"
        typer.echo(
            f"{name:>5}: {len(members) - n_anom:5d} normal {n_anom:5d} anomalous  mean age {mean}"
        )
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("split")(split)
