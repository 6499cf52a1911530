"""``brainuad synth``: write a synthetic T1 cohort (NIfTI volumes, lesion masks, manifest)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

_HELP = (
    "Generate a synthetic cohort of T1-weighted brain MRIs on real anatomy.\n\n"
    "Built on the MNI152 2009a template and tissue maps bundled with nilearn (nothing is "
    "downloaded). Normal subjects age realistically (cortical thinning, ventricle expansion, "
    "white-matter lesions, GM/WM contrast loss); anomalous subjects carry a BraTS-like glioma "
    "(necrotic core, rim, oedema, mass effect). Every subject varies in head size, pose, shape "
    "and scanner (contrast, bias field, blur, noise, stored orientation).\n\n"
    "Writes OUT_DIR/manifest.csv (subject_id,image,age,label,lesion_mask), images/*.nii.gz "
    "(int16), lesions/*.nii.gz and synth.json. Same seed, same bytes, whatever --jobs.\n\n"
    "Example: brainuad synth cohort --n-normal 100 --n-anomalous 50 --seed 0 --preview"
)


def synth(
    out_dir: Path = typer.Argument(..., help="Output folder (created if missing)."),
    n_normal: int = typer.Option(20, "--n-normal", help="Number of healthy subjects."),
    n_anomalous: int = typer.Option(10, "--n-anomalous", help="Number of subjects with a glioma."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed -> byte-identical files)."),
    skull_stripped: bool = typer.Option(
        False,
        "--skull-stripped",
        help="Write brain-only images with a zero background (BraTS-like) instead of raw-like "
        "heads with skull, scalp, neck and noisy air.",
    ),
    voxel_size: float = typer.Option(
        1.0, "--voxel-size", help="Voxel size in mm (1 = full resolution; 2-3 for quick tests)."
    ),
    jobs: int = typer.Option(
        0, "--jobs", "-j", help="Parallel worker processes (0 = all usable cores, memory allowing)."
    ),
    normal_age: str = typer.Option(
        "45,17,18,90", help="Ages of healthy subjects: mean,sd,low,high in years."
    ),
    anomalous_age: str = typer.Option(
        "60,13,18,90", help="Ages of subjects with a tumour: mean,sd,low,high in years."
    ),
    tumour_volume: str = typer.Option(
        "10,120", help="Whole-tumour volume range in mL (incl. oedema), sampled log-uniformly."
    ),
    orientation_jitter: bool = typer.Option(
        True,
        "--orientation-jitter/--no-orientation-jitter",
        help="Vary stored axis order, oblique angle and origin of the affine, as scanners do.",
    ),
    ageing: bool = typer.Option(True, "--ageing/--no-ageing", help="Apply age effects."),
    brain_masks: bool = typer.Option(
        False, "--brain-masks", help="Also write ground-truth brain masks (manifest 'mask' column)."
    ),
    preview: bool = typer.Option(
        False, "--preview", help="Also write OUT_DIR/preview.png, a montage of a few subjects."
    ),
    preview_subjects: int = typer.Option(6, "--preview-subjects", help="Subjects in the montage."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a cohort already in OUT_DIR."
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: only on a terminal)."
    ),
) -> None:
    from brainuad.synth.cohort import generate_cohort
    from brainuad.synth.config import SynthConfig, parse_age_spec, parse_range
    from brainuad.synth.preview import save_preview

    config = SynthConfig(
        voxel_size=voxel_size,
        skull=not skull_stripped,
        orientation_jitter=orientation_jitter,
        normal_age=parse_age_spec(normal_age, "--normal-age"),
        anomalous_age=parse_age_spec(anomalous_age, "--anomalous-age"),
        tumour_volume_ml=parse_range(tumour_volume, "--tumour-volume"),
        ageing=ageing,
        write_brain_masks=brain_masks,
    )
    if jobs < 0:
        from brainuad.errors import ConfigError

        raise ConfigError(f"--jobs must be >= 0 (0 = all cores), found {jobs}")
    from brainuad.io.lock import folder_lock

    start = time.perf_counter()
    with folder_lock(out_dir, "brainuad synth", clean="tree"):
        manifest = generate_cohort(
            out_dir,
            n_normal,
            n_anomalous,
            seed=seed,
            config=config,
            n_jobs=jobs or None,
            progress=progress,
            overwrite=overwrite,
        )
        elapsed = time.perf_counter() - start
        if preview:
            png = save_preview(manifest, out_dir / "preview.png", n=preview_subjects)
    n = n_normal + n_anomalous
    typer.echo(
        f"wrote {n} subjects ({n_normal} normal, {n_anomalous} anomalous) to {manifest} "
        f"in {elapsed:.1f} s ({elapsed / n:.2f} s per subject, wall clock)"
    )
    if preview:
        typer.echo(f"preview: {png}")


synth.__doc__ = _HELP


def register(app: typer.Typer) -> None:
    app.command("synth", help=_HELP)(synth)
