"""``brainuad cohort ixi|brats``: manifests with ages from public dataset downloads."""

from __future__ import annotations

from pathlib import Path

import typer

_HELP = (
    "Build cohort manifests from public dataset downloads (nothing is downloaded here).\n\n"
    "Each command writes a manifest (subject_id, image, age, label, ...) and beside it "
    "<name>_exclusions.csv listing every subject left out (no age, inconsistent ages, several "
    "T1 files) or kept with a note (duplicate rows that agree, no segmentation). Subjects "
    "without an age are never given one. Combine the manifests in a study config:\n\n"
    "  cohort: \\[ixi.csv, brats.csv]\n\n"
    "See docs/real-data.md for the whole recipe, from the downloads to the report."
)

cohort_app = typer.Typer(
    help=_HELP, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]}
)


_IXI_HELP = (
    "IXI healthy T1 heads + ages from IXI.xls -> manifest (label 0, site = hospital).\n\n"
    "Heads are raw (skull, scalp, noisy air): preprocess them with skull_strip auto (the "
    "default) or deepbet. Duplicate IXI_ID rows whose ages agree within 0.1 year are kept "
    "(and noted); disagreeing ones are excluded, as are ids without an age or missing from the "
    "spreadsheet.\n\n"
    "Example: brainuad cohort ixi IXI-T1 --demographics IXI.xls --out ixi.csv"
)
_BRATS_HELP = (
    "BraTS native T1 (never T1ce) + ages -> manifest (label 1, grade, segmentation as "
    "lesion_mask: whole tumour = labels > 0).\n\n"
    "BraTS scans are already skull-stripped and resampled to the SRI24 atlas; skull_strip auto "
    "takes their brain mask from the image. Scans without an age (all LGG and part of HGG in "
    "2018/2019, part of 2020) are excluded and listed in the report.\n\n"
    "Example: brainuad cohort brats MICCAI_BraTS2020_TrainingData --out brats.csv"
)


@cohort_app.command("ixi", help=_IXI_HELP)
def ixi(
    t1_dir: Path = typer.Argument(
        ...,
        help="Folder of IXI T1 heads (the IXI-T1 archive extracted: IXI002-Guys-0828-T1.nii.gz, "
        "...; sub-folders are searched, T2/PD/MRA files ignored).",
    ),
    demographics: Path = typer.Option(
        ...,
        "--demographics",
        "-d",
        help="IXI.xls (read with xlrd) or a CSV/TSV export of it; columns IXI_ID and AGE.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Manifest to write (.csv), e.g. ixi.csv."),
) -> None:
    """Write the IXI manifest and its exclusions report."""
    from brainuad.cohorts import build_ixi, write_build
    from brainuad.io.lock import file_lock

    build = build_ixi(t1_dir, demographics)
    with file_lock(out, "brainuad cohort ixi"):
        manifest, report = write_build(build, out)
    typer.echo(build.summary(manifest, report))


@cohort_app.command("brats", help=_BRATS_HELP)
def brats(
    brats_dir: Path = typer.Argument(
        ...,
        help="BraTS training data folder: 2020 (BraTS20_Training_001/..._t1.nii.gz) or "
        "2018/2019 (HGG/ and LGG/ of subject folders).",
    ),
    ages: Path | None = typer.Option(
        None,
        "--ages",
        help="Ages table (survival_info.csv for 2020: Brats20ID, Age; survival_data.csv for "
        "2018/2019: BraTS19ID/BraTS18ID, Age). Default: found inside BRATS_DIR.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Manifest to write (.csv), e.g. brats.csv."),
) -> None:
    """Write the BraTS manifest and its exclusions report."""
    from brainuad.cohorts import build_brats, write_build
    from brainuad.io.lock import file_lock

    build = build_brats(brats_dir, ages)
    with file_lock(out, "brainuad cohort brats"):
        manifest, report = write_build(build, out)
    typer.echo(build.summary(manifest, report))


def register(app: typer.Typer) -> None:
    """Add ``brainuad cohort ixi|brats`` to the CLI."""
    app.add_typer(cohort_app, name="cohort", help=_HELP)
