"""Phantom heads, a tiny trained study and hand-made bundles for the bundle/predict tests.

A phantom is a skull-stripped ellipsoidal "brain" (grey shell, brighter white-matter core, two
dark ventricles) on a coarse grid, with a random small shift and scale; an anomalous one has a
dark spherical "tumour" (its lesion mask is returned). The fast preprocessing settings below
(no skull stripping, no registration, 4 mm grid, 16x19x17 model volumes) make a whole study of
~40 phantoms train and evaluate in seconds.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from brainuad.bundle import CombinedWeights, write_bundle
from brainuad.models import build_model
from brainuad.preprocessing import PreprocessConfig, cache_settings

CENTRE = np.array([2.0, -15.0, 8.0])
RADII = np.array([66.0, 80.0, 62.0])
FAST_PREPROCESS = {
    "crop_shape": [40, 48, 42],
    "target_shape": [16, 19, 17],
    "voxel_size": 4.0,
    "skull_strip": "none",
    "register": False,
}


def fast_config() -> PreprocessConfig:
    return PreprocessConfig(**FAST_PREPROCESS)  # type: ignore[arg-type]


def make_head(
    seed: int,
    *,
    lesion: tuple[np.ndarray, float] | None = None,
    shape: tuple[int, int, int] = (48, 56, 48),
    spacing: float = 4.0,
    lesion_value: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(data, affine, lesion mask or None)``: a RAS phantom; ``lesion`` = (centre mm, radius)."""
    rng = np.random.default_rng(seed)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = CENTRE - spacing * (np.asarray(shape) - 1) / 2.0
    world = np.indices(shape).reshape(3, -1).T * spacing + affine[:3, 3]
    rel = world - CENTRE - rng.normal(0.0, 2.0, 3)
    r = np.sqrt(((rel / (RADII * rng.uniform(0.96, 1.04))) ** 2).sum(1)).reshape(shape)
    data = np.where(r <= 1.0, 0.55, 0.0)
    data = np.where(r <= 0.7, 0.8, data)
    for side in (-1.0, 1.0):
        v = (rel - np.array([side * 12.0, 0.0, 10.0])) / np.array([7.0, 25.0, 9.0])
        data = np.where(np.sqrt((v**2).sum(1)).reshape(shape) <= 1.0, 0.2, data)
    mask = None
    if lesion is not None:
        mask = (np.linalg.norm(world - lesion[0], axis=1) <= lesion[1]).reshape(shape)
        data = np.where(mask, lesion_value, data)
    data = data + rng.normal(0.0, 0.02, shape) * (data > 0)
    return (np.clip(data, 0.0, None) * 1000.0).astype(np.float32), affine, mask


def lesion_for(seed: int) -> tuple[np.ndarray, float]:
    """A tumour position (inside the white-matter core, off the ventricles) and radius."""
    rng = np.random.default_rng(1000 + seed)
    side = rng.choice([-1.0, 1.0])
    offset = np.array([side * rng.uniform(25, 32), rng.uniform(-25, 25), rng.uniform(-12, 8)])
    return CENTRE + offset, 22.0


def save_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def write_cohort(folder: Path, n_normal: int, n_anomalous: int, seed: int = 0) -> Path:
    """Phantom NIfTIs (+ lesion masks) and ``manifest.csv``; ages spread over 20-80 years."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["subject_id,image,age,label,lesion_mask"]
    for i in range(n_normal + n_anomalous):
        label = int(i >= n_normal)
        sid = f"{'anom' if label else 'norm'}{i:02d}"
        data, affine, les = make_head(seed + i, lesion=lesion_for(seed + i) if label else None)
        save_nifti(folder / f"{sid}.nii.gz", data, affine)
        les_name = ""
        if les is not None:
            les_name = f"{sid}_lesion.nii.gz"
            save_nifti(folder / les_name, les.astype(np.uint8), affine)
        age = 20.0 + (37 * i) % 60
        rows.append(f"{sid},{sid}.nii.gz,{age:g},{label},{les_name}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return manifest


def run_tiny_study(root: Path, methods: tuple[str, ...] = ("vae-ap",), epochs: int = 15) -> Path:
    """A whole `brainuad run` on phantoms (tiny preset); returns the results folder.

    It trains with the ELBO reduction (``sum``): these tests check the maps and the bundle's
    mechanics, which need sharp reconstructions; the default ``mean`` reduction regularises the
    latent so strongly that a 15-epoch toy model reconstructs an average phantom.
    """
    from brainuad.experiment.config import StudyConfig
    from brainuad.experiment.runner import run_study

    manifest = write_cohort(root / "cohort", n_normal=30, n_anomalous=10)
    config = StudyConfig(
        cohort=manifest,
        output=root / "results",
        preset="tiny",
        methods=methods,
        epochs=epochs,
        device="cpu",
        jobs=1,
        preprocess=dict(FAST_PREPROCESS),
        healthy_split=(18, 8, 4),
        anomalous_split=(5, 5),
        n_resamples=100,
        report=False,
        train_overrides={"reduction": "sum"},
    )
    run_study(config, progress=False, log=lambda _: None)
    return root / "results"


def handmade_bundle(
    out: Path,
    kind: str,
    *,
    weights: CombinedWeights,
    zero_output: bool = False,
    seed: int = 0,
) -> Path:
    """A bundle of an untrained model on the fast preprocessing grid, with a made-up reference.

    ``zero_output=True`` zeroes the decoder's last layer, so the reconstruction is 0 and the
    anomaly map is the smoothed input itself (its maximum lies on the brightest structure).
    """
    cfg = fast_config()
    shape = tuple(cfg.target_shape)
    model = build_model(_model_config(kind, shape), seed=seed)  # type: ignore[arg-type]
    if zero_output:
        with torch.no_grad():
            for p in model.decoder[-1].parameters():
                p.zero_()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    rng = np.random.default_rng(seed)
    n_val = 12
    labels = np.r_[np.zeros(8, int), np.ones(4, int)]
    ages = rng.uniform(30, 70, n_val)
    head = _model_config(kind, shape).has_age_head
    age_pred = ages + rng.normal(0, 5, n_val) if head else np.full(n_val, np.nan)
    scores = pd.DataFrame(
        {
            "subject_id": [f"v{i}" for i in range(n_val)],
            "split": "val",
            "label": labels,
            "age": ages,
            "rec": rng.uniform(0.1, 0.2, n_val) + 0.1 * labels,
            "kl": rng.uniform(5, 10, n_val) + 5 * labels,
            "age_pred": age_pred,
            "age_abs_error": np.abs(age_pred - ages),
        }
    )
    train = pd.DataFrame({"age": [25.0, 50.0, 75.0]})
    state = {"model": _model_config(kind, shape).to_dict(), "seed": seed}
    return write_bundle(
        out,
        tensors=tensors,
        state=state,
        scores=scores,
        weights=weights,
        preprocess_settings=cache_settings(cfg),
        train_subjects=train,
    )


def _model_config(kind: str, shape: tuple[int, int, int]):  # type: ignore[no-untyped-def]
    from brainuad.training import preset

    return preset("tiny").model_config(kind, shape)
