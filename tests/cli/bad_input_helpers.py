"""Inputs of the bad-input corpus: a tiny cohort, cache, trained run, scores and bundle.

Everything is generated from small synthetic volumes (no binary fixtures). The cache is written
directly (no preprocessing), the run is one epoch of the ``tiny`` preset, the bundle is exported
from it: the whole set takes a few seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from brainuad.cli.main import main
from brainuad.io.cache import write_cache
from brainuad.preprocessing import PreprocessConfig
from brainuad.preprocessing.pipeline import cache_settings

SHAPE = (24, 28, 24)
#: real-sized head (radii in mm) on a coarse grid, so that QC sees a plausible brain
RADII_MM = np.array([66.0, 80.0, 62.0])
SPACING_MM = 8.0


def head(seed: int, spacing: float = SPACING_MM, shape: tuple[int, int, int] = SHAPE):  # type: ignore[no-untyped-def]
    """``(data, affine)`` of a RAS ellipsoid 'brain' with a darker core and a little noise."""
    rng = np.random.default_rng(seed)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -spacing * (np.asarray(shape) - 1) / 2.0
    world = np.indices(shape).reshape(3, -1).T * spacing + affine[:3, 3]
    r = np.sqrt(((world / RADII_MM) ** 2).sum(1)).reshape(shape)
    data = np.where(r <= 1.0, 0.6, 0.0) + np.where(r <= 0.5, 0.2, 0.0)
    data = data + 0.02 * rng.standard_normal(shape) * (r <= 1.0)
    return data.astype(np.float32), affine


def write_cohort(folder: Path, n: int = 6) -> Path:
    """``n`` NIfTI heads and ``manifest.csv`` (label 1 for the last third); the manifest path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["subject_id,image,age,label"]
    for i in range(n):
        data, affine = head(i)
        nib.save(nib.Nifti1Image(data, affine), str(folder / f"sub-{i:02d}.nii.gz"))
        lines.append(f"sub-{i:02d},sub-{i:02d}.nii.gz,{30 + 7 * i},{int(i >= 2 * n // 3)}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder / "manifest.csv"


def write_bids(root: Path, n: int = 2) -> Path:
    """A BIDS dataset of ``n`` participants (anat T1w) with participants.tsv."""
    rows = ["participant_id\tage"]
    for i in range(n):
        anat = root / f"sub-{i + 1:02d}" / "anat"
        anat.mkdir(parents=True)
        data, affine = head(i)
        nib.save(nib.Nifti1Image(data, affine), str(anat / f"sub-{i + 1:02d}_T1w.nii.gz"))
        rows.append(f"sub-{i + 1:02d}\t{40 + i}")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    description = {"Name": "corpus", "BIDSVersion": "1.8.0"}
    (root / "dataset_description.json").write_text(json.dumps(description))
    return root


def settings(**changes: object) -> dict:
    """Cache settings of a real preprocessing configuration (export rebuilds it)."""
    return cache_settings(PreprocessConfig(skull_strip="none", register=False, **changes))  # type: ignore[arg-type]


def write_tiny_cache(root: Path, *, seed: int = 0, **setting_changes: object) -> Path:
    """A cache of 14 subjects: 6 train, val 2+2 and test 2+2 (healthy + anomalous)."""
    rng = np.random.default_rng(seed)
    n = 14
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in SHAPE], indexing="ij"))
    r = np.sqrt((grid**2).sum(0))
    ages = rng.uniform(20, 80, n)
    labels = [0] * 6 + [0, 0, 1, 1] + [0, 0, 1, 1]
    vols = np.zeros((n, *SHAPE), np.float32)
    for i in range(n):
        v = np.clip(1.1 - r, 0, 1) * (r < 0.9)
        v[r < 0.1 + 0.003 * ages[i]] *= 0.3
        if labels[i]:
            c = rng.uniform(-0.3, 0.3, 3)[:, None, None, None]
            v[np.sqrt(((grid - c) ** 2).sum(0)) < 0.25] = 1.0
        vols[i] = v
    subjects = pd.DataFrame(
        {
            "subject_id": [f"sub-{i:02d}" for i in range(n)],
            "age": ages,
            "label": labels,
            "split": ["train"] * 6 + ["val"] * 4 + ["test"] * 4,
        }
    )
    masks = (vols > 0).astype(np.uint8)
    write_cache(root, vols, masks, subjects, settings(**setting_changes))
    return root


def cli(argv: list[str]) -> int:
    """Run the CLI in-process, its output swallowed (for building fixtures)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(argv)


def build_artefacts(ws: Path) -> dict[str, Path]:
    """Cohort, BIDS dataset, cache, trained run, scores CSV and bundle under ``ws``."""
    manifest = write_cohort(ws / "cohort")
    bids = write_bids(ws / "bids")
    cache = write_tiny_cache(ws / "cache")
    run = ws / "run"
    argv = ["train", str(cache), "-m", "vae-ap", "-o", str(run), "--preset", "tiny"]
    rc = cli([*argv, "--epochs", "1", "--device", "cpu", "--no-progress"])
    assert rc == 0, "training the corpus run failed"
    scores = ws / "scores.csv"
    assert cli(["score", str(run), str(cache), "-o", str(scores), "--device", "cpu"]) == 0
    bundle = ws / "bundle"
    assert cli(["export", str(run), "-o", str(bundle), "--device", "cpu"]) == 0
    return {
        "manifest": manifest,
        "bids": bids,
        "cache": cache,
        "run": run,
        "scores": scores,
        "bundle": bundle,
        "scan": manifest.parent / "sub-00.nii.gz",
    }


def snapshot(*roots: Path) -> dict[str, bytes | None]:
    """Every path under ``roots`` -> its bytes (``None`` for folders); absent roots are noted."""
    out: dict[str, bytes | None] = {}
    for root in roots:
        if not root.exists():
            out[f"{root} (absent)"] = None
            continue
        out[str(root)] = None if root.is_dir() else root.read_bytes()
        for p in sorted(root.rglob("*")):
            out[str(p)] = None if p.is_dir() else p.read_bytes()
    return out


def copy(src: Path, dst: Path) -> Path:
    """A private copy of a shared artefact (file or folder) to tamper with."""
    if src.is_dir():
        return Path(shutil.copytree(src, dst))
    dst.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(src, dst))


def edit_json(path: Path, **changes: object) -> None:
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record, indent=2))


def flip_byte(path: Path, offset_from_end: int = 5) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def header_only_nifti(path: Path, shape: tuple[int, int, int], zooms: tuple[float, ...]) -> Path:
    """A ``.nii`` whose header claims ``shape``/``zooms`` but holds a few bytes of data."""
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.float32)
    hdr.set_data_shape(shape)
    hdr.set_zooms(zooms)
    hdr.set_qform(np.diag([*zooms, 1.0]), code=1)
    hdr.set_sform(np.diag([*zooms, 1.0]), code=1)
    buf = io.BytesIO()
    hdr.write_to(buf)
    path.write_bytes(buf.getvalue() + b"\x00" * (352 - len(buf.getvalue())) + b"\x00" * 64)
    return path
