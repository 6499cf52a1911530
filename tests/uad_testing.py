"""Helpers shared by the tests: tiny NIfTI volumes and manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def blob_volume(shape: tuple[int, int, int] = (16, 18, 14), seed: int = 0) -> np.ndarray:
    """A smooth ellipsoid 'brain' with a little noise, float32."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    r = np.sqrt((grid**2).sum(0))
    vol = np.clip(1.2 - r, 0, None) + 0.01 * rng.standard_normal(shape)
    return vol.astype(np.float32)


def write_manifest_rows(folder: Path, rows: list[dict[str, str]], name: str = "m.csv") -> Path:
    """Write rows (same keys) as a CSV manifest in ``folder``."""
    cols = list(rows[0])
    text = ",".join(cols) + "\n" + "\n".join(",".join(r.get(c, "") for c in cols) for r in rows)
    path = folder / name
    path.write_text(text + "\n")
    return path
