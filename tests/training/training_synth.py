"""Small synthetic caches of smooth 'brains' for the training tests (tiny shapes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brainuad.io.cache import write_cache

SHAPE = (24, 28, 26)


def synthetic_volumes(n: int, shape=SHAPE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ellipsoids with a few smooth blobs; ventricle size grows with age. Returns (vols, ages)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    ages = rng.uniform(20, 80, size=n)
    vols = np.zeros((n, *shape), dtype=np.float32)
    for i in range(n):
        r = np.sqrt(((grid / 0.8) ** 2).sum(0))
        v = np.clip(1.2 - r, 0, 1) * (r < 1)
        vent = np.sqrt(((grid / (0.1 + 0.004 * ages[i])) ** 2).sum(0)) < 1
        v[vent] *= 0.2
        for _ in range(3):
            c = rng.uniform(-0.5, 0.5, size=3)[:, None, None, None]
            v += 0.2 * np.exp(-((grid - c) ** 2).sum(0) / 0.05) * (r < 1)
        vols[i] = np.clip(v, 0, 1)
    return vols, ages


def make_cache(
    root: Path,
    n_train: int = 8,
    n_val: int = 2,
    n_test: int = 2,
    shape=SHAPE,
    seed: int = 0,
    settings: dict | None = None,
    ages: bool = True,
    labels: list[int] | None = None,
):
    n = n_train + n_val + n_test
    vols, age = synthetic_volumes(n, shape, seed)
    split = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    subjects = pd.DataFrame(
        {
            "subject_id": [f"sub-{i:03d}" for i in range(n)],
            "age": age if ages else [np.nan] * n,
            "label": labels if labels is not None else [0] * n,
            "split": split,
        }
    )
    return write_cache(root, vols, (vols > 0).astype(np.uint8), subjects, settings or {"k": 1})
