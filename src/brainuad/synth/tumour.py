"""Gliomas as seen in native T1 (BraTS-like): necrotic core, solid rim, oedema, mass effect.

A tumour is placed in the cerebral white matter (at least 14 mm deep, off the midline, above
the cerebellum). Its whole volume (core + oedema, the lesion mask) is drawn log-uniformly from
the configured range (default 10-120 mL; BraTS whole-tumour volumes are mostly in this range,
Bakas et al. 2017) and reached by rescaling an irregular shape:

- **core**: an anisotropic blob whose radius is perturbed by smooth noise; **necrosis** inside
  it (in 75 % of tumours, 20-70 % of the core; fluid-like, T1 hypointense, a little brighter
  than CSF); the rest is the solid/enhancing **rim**, iso- to mildly hypointense to grey matter
  in native T1;
- **oedema**: a larger, rougher region that spreads preferentially along white matter and
  spares the cortex, T1 hypointense (white matter darkened towards grey-matter level);
- **mass effect**: tissue is pushed radially outwards as if the tumour inserted its volume
  (r^3 -> r^3 + R^3, smoothed at the centre), damped to zero at the brain surface, so nearby
  sulci and ventricles are compressed and large tumours shift the midline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

VOLUME_TOL = 1.03


@dataclass(frozen=True)
class TumourSpec:
    """One tumour, in output (subject) world coordinates (mm)."""

    centre: np.ndarray
    volume_ml: float  # target whole-tumour volume (core + oedema)
    core_fraction: float
    necrosis_fraction: float
    axes: np.ndarray  # relative semi-axes (product 1)
    rotation: np.ndarray  # 3x3
    mass_radius_mm: float
    roughness: float
    oedema_roughness: float
    wm_preference: float
    necrosis_level: float  # intensities relative to white matter
    rim_level: float
    oedema_level: float
    oedema_weight: float


def sample_tumour(
    rng: np.random.Generator,
    centre: np.ndarray,
    volume_range: tuple[float, float],
    levels: tuple[float, float],
) -> TumourSpec:
    """Draw a tumour at output-space ``centre``; ``levels`` = (CSF, GM) intensity of the subject."""
    lo, hi = volume_range  # aim 3 % inside the range: the calibrated volume is within 3 %
    lo, hi = lo * VOLUME_TOL, max(hi / VOLUME_TOL, lo * VOLUME_TOL)
    vol = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    core = float(rng.uniform(0.25, 0.6))
    has_necrosis = rng.random() < 0.75  # high-grade gliomas (most of BraTS) are necrotic
    necrosis = float(rng.uniform(0.2, 0.7)) if has_necrosis else 0.0
    axes = np.exp(rng.normal(0.0, 0.15, 3))
    axes /= np.prod(axes) ** (1 / 3)
    mass_ml = vol * (rng.uniform(0.5, 0.9) * core + 0.25 * (1 - core))
    csf, gm = levels
    return TumourSpec(
        centre=np.asarray(centre, np.float64),
        volume_ml=vol,
        core_fraction=core,
        necrosis_fraction=necrosis,
        axes=axes,
        rotation=random_rotation(rng),
        mass_radius_mm=float((3 * mass_ml * 1000 / (4 * math.pi)) ** (1 / 3)),
        roughness=float(rng.uniform(0.12, 0.3)),
        oedema_roughness=float(rng.uniform(0.2, 0.45)),
        wm_preference=float(rng.uniform(0.3, 0.8)),
        necrosis_level=float(csf * rng.uniform(1.0, 1.4)),
        rim_level=float(gm * rng.uniform(0.75, 0.95)),
        oedema_level=float(gm * rng.uniform(0.7, 0.88)),
        oedema_weight=float(rng.uniform(0.7, 0.95)),
    )


def mass_effect(points: np.ndarray, spec: TumourSpec) -> np.ndarray:
    """Backward displacement (3, N) to subtract from output points: pushes tissue outwards."""
    v = points - spec.centre.reshape(3, 1)
    r = np.sqrt((v**2).sum(axis=0))
    rm3 = spec.mass_radius_mm**3
    u = (r**3) / rm3
    src = np.cbrt(np.maximum(r**3 - rm3 * (-np.expm1(-u)), 0.0))
    scale = np.where(r > 1e-6, (r - src) / np.maximum(r, 1e-6), 0.0)
    return (v * scale).astype(np.float32)


def tumour_box(
    spec: TumourSpec, affine: np.ndarray, shape: tuple[int, ...]
) -> tuple[slice, slice, slice]:
    """The region of the output grid (axis-aligned ``affine``) the tumour can reach."""
    vs = float(affine[0, 0])
    r_whole = (3 * spec.volume_ml * 1000 / (4 * math.pi)) ** (1 / 3)
    centre_idx = (spec.centre - affine[:3, 3]) / vs
    half = (2.3 * r_whole + 6.0) / vs
    lo = np.maximum(np.floor(centre_idx - half).astype(int), 0)
    hi = np.minimum(np.ceil(centre_idx + half).astype(int) + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def paint_tumour(
    image: np.ndarray,
    brain: np.ndarray,
    tissue: np.ndarray,
    wm: np.ndarray,
    spec: TumourSpec,
    affine: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, float]]:
    """Paint the tumour into ``image`` (in place); return the whole-tumour mask and volumes.

    ``image`` and ``brain`` (brain fraction) cover the output grid, which has the axis-aligned
    ``affine``; ``tissue`` (GM + WM fraction) and ``wm`` cover only :func:`tumour_box`.
    """
    vs = float(affine[0, 0])
    r_whole = (3 * spec.volume_ml * 1000 / (4 * math.pi)) ** (1 / 3)
    r_core = r_whole * spec.core_fraction ** (1 / 3)
    centre_idx = (spec.centre - affine[:3, 3]) / vs
    box = tumour_box(spec, affine, image.shape)
    grids = np.meshgrid(*[np.arange(s.start, s.stop, dtype=np.float32) for s in box], indexing="ij")
    v = np.stack([(g - c) * vs for g, c in zip(grids, centre_idx, strict=True)])
    w = np.einsum("ij,i...->j...", spec.rotation.astype(np.float32), v)
    rho = np.sqrt(sum((w[k] / spec.axes[k]) ** 2 for k in range(3)))

    shape = rho.shape
    n_core, n_nec, n_oed = (_noise(rng, shape, s / vs) for s in (0.35 * r_core, 3.0, 0.3 * r_whole))
    texture = _noise(rng, shape, 1.8 / vs)
    b, t, wmb = brain[box], tissue, wm
    inside = b > 0.5
    healthy = t > 0.5

    kappa = 1.0
    for _ in range(8):
        phi_core = rho / (kappa * r_core) + spec.roughness * n_core
        phi_oed = (
            rho / (kappa * r_whole)
            + spec.oedema_roughness * n_oed
            - spec.wm_preference * (wmb - 0.5)
        )
        core = (phi_core < 1) & inside
        whole = core | ((phi_oed < 1) & inside & healthy)
        vol = whole.sum() * vs**3 / 1000.0
        if abs(vol / spec.volume_ml - 1.0) < VOLUME_TOL - 1.0:
            break
        kappa = min(kappa * (spec.volume_ml / max(vol, 0.05)) ** (1 / 3), 2.0)
    rho_nec = max(spec.necrosis_fraction, 1e-3) ** (1 / 3)
    phi_nec = rho / (kappa * r_core * rho_nec) + 0.15 * n_nec

    region = image[box]
    w_oed = _soft(phi_oed) * (phi_core > 0.8) * t * spec.oedema_weight * (0.6 + 0.4 * wmb)
    region += w_oed * (spec.oedema_level - region)
    w_core = _soft(phi_core) * b
    rim = spec.rim_level * (1.0 + 0.06 * texture)
    region += w_core * (rim - region)
    if spec.necrosis_fraction > 0:
        w_nec = _soft(phi_nec) * w_core
        nec = spec.necrosis_level * (1.0 + 0.08 * texture)
        region += w_nec * (nec - region)

    mask = np.zeros(image.shape, bool)
    mask[box] = whole
    necrotic = (phi_nec < 1) & core if spec.necrosis_fraction > 0 else np.zeros_like(core)
    info = {
        "lesion_ml": float(vol),
        "core_ml": float(core.sum() * vs**3 / 1000.0),
        "necrosis_ml": float(necrotic.sum() * vs**3 / 1000.0),
        "target_ml": spec.volume_ml,
    }
    return mask, info


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix (from a random unit quaternion)."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _soft(phi: np.ndarray, width: float = 0.12) -> np.ndarray:
    """Smooth indicator of phi < 1 (0.5 at the boundary)."""
    return np.clip((1.0 - phi) / width + 0.5, 0.0, 1.0).astype(np.float32)


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: float) -> np.ndarray:
    """Unit-SD Gaussian-smoothed white noise in a local box."""
    white = rng.standard_normal(shape).astype(np.float32)
    sm = ndi.gaussian_filter(white, max(sigma_vox, 0.5), mode="reflect")
    return sm / (sm.std() + 1e-8)
