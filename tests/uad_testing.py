"""Helpers shared by the tests: tiny NIfTI volumes and manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Tolerances for floats that come out of different code paths (batched vs single-scan
# inference, another CPU's SIMD kernels, another summation order). They follow the scale of the
# quantity, never the last bits of one machine's arithmetic:
#: ages and age errors, in years: 0.01 y (under four days) is far below any meaningful age
#: difference and far above float32 rounding of an age near 100 (about 1e-5 y)
AGE_ATOL_YEARS = 0.01
#: relative tolerance for float32 sums over many voxels or latent dimensions (L_rec, L_KL, loss
#: values): accumulated rounding of ~1e5 terms in another order is about 1e-6..1e-5 relative
SUM_RTOL = 1e-4
#: network outputs of order 1 computed by two kernel implementations (absolute)
ACTIVATION_ATOL = 1e-4


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
