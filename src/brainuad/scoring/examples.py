"""Example slices for the report: input, reconstruction and residual of a few test subjects.

Saved as ``examples/<method>.npz`` with arrays ``subject_id`` (K,), ``label`` (K,), ``age`` (K,)
and, for each plane in ``axial, coronal, sagittal``, ``input_<plane>``, ``recon_<plane>``,
``residual_<plane>`` and ``mask_<plane>`` of shape (K, H, W): the slices through the brain
mask's centre of mass (for an anomalous subject with a lesion mask in the cache, through the
lesion's centre instead, so the report shows the tumour).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from brainuad.io.atomic import atomic_path
from brainuad.io.cache import Cache
from brainuad.models import VAE

PLANES = ("axial", "coronal", "sagittal")


def choose_examples(cache: Cache, split: str = "test", per_class: int = 2) -> np.ndarray:
    """Deterministic pick: the first ``per_class`` normal and anomalous subjects of ``split``."""
    picked: list[int] = []
    for label in (0, 1):
        picked.extend(cache.indices(split=split, label=label)[:per_class].tolist())
    return np.asarray(picked, dtype=int)


def _centre(mask: np.ndarray) -> tuple[int, int, int]:
    idx = np.argwhere(mask > 0)
    if len(idx) == 0:
        return tuple(s // 2 for s in mask.shape)  # type: ignore[return-value]
    return tuple(int(round(v)) for v in idx.mean(axis=0))  # type: ignore[return-value]


def _slices(vol: np.ndarray, centre: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """RAS array -> display slices (rows = superior..inferior or anterior..posterior)."""
    i, j, k = centre
    return {
        "axial": np.rot90(vol[:, :, k]),
        "coronal": np.rot90(vol[:, j, :]),
        "sagittal": np.rot90(vol[i, :, :]),
    }


@torch.no_grad()
def example_slices(
    model: VAE,
    cache: Cache,
    indices: Sequence[int],
    *,
    lesions: np.ndarray | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """Compute the example arrays (see module docstring) for the subjects at ``indices``; the
    chronological age is passed to a model that scales its latent by it."""
    model = model.to(device).eval()
    out: dict[str, list[np.ndarray]] = {
        f"{kind}_{plane}": [] for kind in ("input", "recon", "residual", "mask") for plane in PLANES
    }
    ages = np.asarray(cache.subjects["age"], dtype=float)
    for i in indices:
        x = torch.from_numpy(np.array(cache.volumes[i], np.float32))[None, None].to(device)
        uses_age = model.uses_age_input
        age = torch.tensor([ages[i]], dtype=torch.float32, device=device) if uses_age else None
        recon = model.score(x, age).recon[0, 0].float().cpu().numpy()  # type: ignore[index]
        vol = np.asarray(cache.volumes[i], np.float32)
        mask = np.asarray(cache.masks[i], np.float32)
        focus = mask
        if lesions is not None and lesions[i].any():
            focus = lesions[i]
        centre = _centre(focus)
        parts = {
            "input": vol,
            "recon": recon * (mask > 0),
            "residual": np.abs(vol - recon) * (mask > 0),
            "mask": mask,
        }
        for kind, arr in parts.items():
            for plane, sl in _slices(arr, centre).items():
                out[f"{kind}_{plane}"].append(sl.astype(np.float32))
    result = {k: np.stack(v) for k, v in out.items() if v}
    result["subject_id"] = np.asarray(
        [str(cache.subjects["subject_id"].iloc[i]) for i in indices], dtype=str
    )
    result["label"] = np.asarray([int(cache.subjects["label"].iloc[i]) for i in indices])
    result["age"] = ages[np.asarray(indices, dtype=int)]
    return result


def save_examples(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write the example arrays as a compressed ``.npz``, atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)
