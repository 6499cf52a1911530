"""Age effects on the brain, driven by the subject's age (relative to the template age, 25 y).

Rates are model choices set to the size and shape of changes reported in the brain-ageing
literature (all figures are per year of age, in adults):

- **Cortical grey matter** shrinks from early adulthood, faster with age: the model removes
  0.20 %/yr of GM volume at 25 years, rising linearly to 0.50 %/yr at 75 and later (25 % lost by
  90). Storsve et al. 2014 (J Neurosci 34:8488) report cortical thinning of about 0.35 %/yr on
  average, accelerating with age; Fjell et al. 2009 (J Neurosci 29:15223) about 0.5 %/yr in
  healthy 60-91 year olds; Raz et al. 2005 (Cereb Cortex 15:1676) 0.2-0.9 %/yr by region.
  GM is turned into CSF where it touches sulcal or outer CSF (partial-volume erosion), so sulci
  widen, the cortex thins and the subarachnoid space grows (intracranial volume is fixed).
- **Ventricles** expand slowly in mid-life and fast late in life (Walhovd et al. 2005, Neurobiol
  Aging 26:1261; several %/yr after 60 in Fjell et al. 2009): +0.8 %/yr at 25 rising along a
  logistic curve (midpoint 65 y, width 7 y) to +4 %/yr in the 80s, i.e. x1.25 at 50, x2.6 at 80.
  They are enlarged by a smooth displacement field that pushes the surrounding tissue outwards,
  compressing periventricular white matter and deep grey matter.
- **White matter**: volume loss after ~50 (Walhovd et al. 2005) emerges from the ventricular
  expansion and from T1-hypointense white-matter lesions, whose expected number is
  exp((age - 55) / 12) (0.1 at 25, 1 at 55, 8 at 80), plus periventricular caps from 50 years on
  (prevalence rising steeply with age: de Leeuw et al. 2001, J Neurol Neurosurg Psychiatry
  70:9).
- **GM/WM contrast** falls with age (Salat et al. 2009, NeuroImage 48:21): the WM-GM intensity
  difference is reduced by 0.4 %/yr from 25 years (about -24 % at 85).

Individual variation: effects follow a *biological* age = age + N(0, 4 y), and ventricle size
gets an individual factor exp(N(0, 0.2)) (capped at x4 the template's).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from brainuad.synth.anatomy import TEMPLATE_AGE, Anatomy, load_anatomy


@dataclass(frozen=True)
class AgeingRates:
    """Rate constants of the ageing model (fractions per year unless stated)."""

    gm_rate_young: float = 0.0020
    gm_rate_old: float = 0.0050
    gm_rate_old_age: float = 75.0
    vent_rate_young: float = 0.008
    vent_rate_extra: float = 0.032
    vent_mid_age: float = 65.0
    vent_width_years: float = 7.0
    wmh_ref_age: float = 55.0
    wmh_efold_years: float = 12.0
    contrast_rate: float = 0.004
    bio_age_sd: float = 4.0
    vent_individual_sd: float = 0.2
    vent_max_ratio: float = 4.0


@dataclass(frozen=True)
class AgeingEffects:
    """What ageing does to one subject."""

    bio_age: float
    gm_loss: float  # fraction of template GM turned into CSF
    gm_lambda: float  # erosion strength achieving gm_loss
    vent_ratio: float  # ventricle volume relative to the template
    vent_strength: float  # flow strength (mm^2) achieving vent_ratio
    n_wmh: int
    cap_strength: float
    contrast: float  # multiplies the WM-GM intensity difference


def gm_loss_fraction(age: float, rates: AgeingRates = AgeingRates()) -> float:
    """Fraction of GM volume lost between the template age and ``age`` (0 when younger)."""
    a0, a1 = TEMPLATE_AGE, rates.gm_rate_old_age
    a = max(age, a0)
    slope = (rates.gm_rate_old - rates.gm_rate_young) / (a1 - a0)
    lin = min(a, a1) - a0
    loss = (
        rates.gm_rate_young * (a - a0) + 0.5 * slope * lin**2 + max(a - a1, 0.0) * slope * (a1 - a0)
    )
    return float(min(loss, 0.6))


def ventricle_ratio(age: float, rates: AgeingRates = AgeingRates()) -> float:
    """Expected ventricular volume at ``age`` relative to the template age."""

    def integral(a: float) -> float:
        s = rates.vent_width_years
        logistic = s * math.log1p(math.exp((a - rates.vent_mid_age) / s))
        return rates.vent_rate_young * a + rates.vent_rate_extra * logistic

    return float(math.exp(integral(age) - integral(TEMPLATE_AGE)))


def wmh_expected_count(age: float, rates: AgeingRates = AgeingRates()) -> float:
    """Expected number of punctate T1-hypointense white-matter lesions."""
    return float(math.exp((age - rates.wmh_ref_age) / rates.wmh_efold_years))


def contrast_factor(age: float, rates: AgeingRates = AgeingRates()) -> float:
    """Factor on the WM-GM intensity difference (1 at the template age)."""
    return float(np.clip(1.0 - rates.contrast_rate * (age - TEMPLATE_AGE), 0.6, 1.05))


def sample_ageing(
    rng: np.random.Generator,
    age: float,
    anat: Anatomy,
    *,
    enabled: bool = True,
    rates: AgeingRates = AgeingRates(),
) -> AgeingEffects:
    """Draw one subject's ageing effects (``enabled=False``: template anatomy, no effects)."""
    bio = float(age + rates.bio_age_sd * rng.standard_normal())
    indiv = float(math.exp(rates.vent_individual_sd * rng.standard_normal()))
    cap = float(np.clip((bio - 50.0) / 35.0, 0.0, 1.0) * rng.uniform(0.4, 1.0))
    n_wmh = int(rng.poisson(wmh_expected_count(bio, rates)))  # last draw: keeps streams aligned
    if not enabled:
        return AgeingEffects(bio, 0.0, 0.0, 1.0, 0.0, 0, 0.0, 1.0)
    loss = gm_loss_fraction(bio, rates)
    ratio = min(ventricle_ratio(bio, rates) * indiv, rates.vent_max_ratio)
    lam_grid, loss_grid = _gm_lookup(anat.voxel_size)
    c_grid, ratio_grid = _vent_lookup(anat.voxel_size)
    return AgeingEffects(
        bio_age=bio,
        gm_loss=loss,
        gm_lambda=float(np.interp(loss, loss_grid, lam_grid)),
        vent_ratio=ratio,
        vent_strength=float(np.interp(ratio, ratio_grid, c_grid)),
        n_wmh=n_wmh,
        cap_strength=cap,
        contrast=contrast_factor(bio, rates),
    )


def cortical_loss(anat: Anatomy, effects: AgeingEffects) -> np.ndarray:
    """GM fraction turned into CSF at each brain voxel (aligned with ``anat.b_idx``)."""
    if effects.gm_lambda <= 0:
        return np.zeros_like(anat.gm_b)
    return anat.gm_b * np.minimum(np.float32(1.0), np.float32(effects.gm_lambda) * anat.exposure_b)


def wmh_weights(anat: Anatomy, effects: AgeingEffects, rng: np.random.Generator) -> np.ndarray:
    """Weight (0-1) of white-matter lesion signal at each brain voxel (``anat.b_idx``)."""
    vs = anat.voxel_size
    vol = np.zeros(anat.shape, np.float32)
    if effects.n_wmh and len(anat.wmh_candidates):
        peri = np.flatnonzero(anat.wmh_periventricular)
        for _ in range(effects.n_wmh):
            pool = peri if (rng.random() < 0.6 and len(peri)) else None
            k = (
                int(rng.choice(pool))
                if pool is not None
                else int(rng.integers(len(anat.wmh_candidates)))
            )
            centre = anat.world_to_index(anat.wmh_candidates[k].astype(np.float64))
            radius = rng.uniform(1.5, 4.0) / vs
            _add_blob(vol, centre, radius * np.exp(rng.normal(0, 0.2, 3)))
    w = np.minimum(vol.ravel()[anat.b_idx], 1.0)
    if effects.cap_strength > 0:
        tau = rng.uniform(1.5, 3.5)
        w = np.maximum(w, effects.cap_strength * np.exp(-anat.vent_dist_b / tau))
    return w * anat.wm_b


VENT_STEP = 10.0  # flow strength per Euler step (mm^2)
VENT_MAX_STRENGTH = 300.0
VENT_MIN_STRENGTH = -40.0


@dataclass(frozen=True)
class VentricleFlows:
    """Ventricle flows precomputed on a ~2 mm lattice of the ventricle box, per strength."""

    strengths: np.ndarray  # (K,) increasing, multiples of VENT_STEP
    ratios: np.ndarray  # (K,) ventricle volume ratio reached by each strength
    displacements: np.ndarray  # (K, 3, *lattice) mm, flowed minus start position
    origin: np.ndarray  # world mm of lattice index 0
    spacing: float  # lattice spacing, mm


def ventricle_flow(points: np.ndarray, anat: Anatomy, strength: float) -> np.ndarray:
    """Backward flow of world points (3, N) that enlarges (strength > 0) the ventricles.

    Interpolates the precomputed flows (:func:`ventricle_flow_exact` integrated once per
    process) in space and strength: one trilinear lookup instead of one per Euler step.
    """
    if strength == 0:
        return points
    flows = _vent_flows(anat.voxel_size)
    pos = float(np.interp(strength, flows.strengths, np.arange(len(flows.strengths))))
    i0 = min(int(pos), len(flows.strengths) - 2)
    w = np.float32(pos - i0)
    disp = (1 - w) * flows.displacements[i0] + w * flows.displacements[i0 + 1]
    idx = (points - flows.origin.reshape(3, 1)) / flows.spacing
    q = points.astype(np.float32, copy=True)
    for k in range(3):
        q[k] += ndi.map_coordinates(disp[k], idx, order=1, mode="constant", cval=0.0)
    return q


def ventricle_flow_exact(points: np.ndarray, anat: Anatomy, strength: float) -> np.ndarray:
    """Euler integration (steps of at most VENT_STEP) of the ventricle-enlarging flow."""
    if strength == 0:
        return points
    n_steps = max(1, int(math.ceil(abs(strength) / VENT_STEP - 1e-9)))
    q = points.astype(np.float32, copy=True)
    for _ in range(n_steps):
        _flow_step(q, anat, strength / n_steps)
    return q


def _flow_step(q: np.ndarray, anat: Anatomy, step: float) -> None:
    idx = (q - anat.vent_box_origin.reshape(3, 1)) / anat.voxel_size
    grads = [
        ndi.map_coordinates(anat.vent_grad[k], idx, order=1, mode="constant", cval=0.0)
        for k in range(3)
    ]
    for k in range(3):
        q[k] += np.float32(step) * grads[k]


def _add_blob(vol: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> None:
    lo = np.maximum(np.floor(centre - 2.5 * radii).astype(int), 0)
    hi = np.minimum(np.ceil(centre + 2.5 * radii).astype(int) + 1, vol.shape)
    if np.any(hi <= lo):
        return
    axes = [((np.arange(lo[k], hi[k]) - centre[k]) / radii[k]) ** 2 for k in range(3)]
    r2 = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
    blob = np.clip(1.5 * np.exp(-r2 / 2.0), 0, 1).astype(np.float32)
    sub = vol[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    np.maximum(sub, blob, out=sub)


@functools.lru_cache(maxsize=4)
def _gm_lookup(voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """(lambda, GM fraction lost) pairs of the erosion model, increasing."""
    anat = load_anatomy(voxel_size)
    sel = (anat.gm_b > 0) & (anat.exposure_b > 0)
    gm, ex = anat.gm_b[sel], anat.exposure_b[sel]
    total = float(anat.gm_b.sum())
    lams = np.concatenate([[0.0], np.geomspace(0.01, 60.0, 64)])
    losses = np.array([float((gm * np.minimum(1.0, lam * ex)).sum()) / total for lam in lams])
    return lams, np.maximum.accumulate(losses)


def _vent_lookup(voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """(flow strength, ventricle volume ratio) pairs, increasing."""
    flows = _vent_flows(voxel_size)
    return flows.strengths, flows.ratios


@functools.lru_cache(maxsize=4)
def _vent_flows(voxel_size: float) -> VentricleFlows:
    """Integrate the flow once, storing displacement and volume ratio after every Euler step."""
    anat = load_anatomy(voxel_size)
    step = max(1, int(round(2.0 / voxel_size)))
    box = anat.vent_box[::step, ::step, ::step]
    lattice = box.shape
    spacing = step * anat.voxel_size
    pts = np.indices(lattice, dtype=np.float32).reshape(3, -1) * spacing
    pts += anat.vent_box_origin.reshape(3, 1).astype(np.float32)
    base = float(box.sum())

    def ratio(q: np.ndarray) -> float:
        idx = (q - anat.vent_box_origin.reshape(3, 1)) / anat.voxel_size
        return float(ndi.map_coordinates(anat.vent_box, idx, order=1).sum()) / base

    strengths, ratios, disps = [0.0], [1.0], [np.zeros((3, *lattice), np.float32)]
    for sign, limit in ((1.0, VENT_MAX_STRENGTH), (-1.0, -VENT_MIN_STRENGTH)):
        q = pts.copy()
        for k in range(1, int(limit / VENT_STEP) + 1):
            _flow_step(q, anat, sign * VENT_STEP)
            strengths.append(sign * k * VENT_STEP)
            ratios.append(ratio(q))
            disps.append((q - pts).reshape(3, *lattice))
    order = np.argsort(strengths)
    return VentricleFlows(
        strengths=np.asarray(strengths)[order],
        ratios=np.maximum.accumulate(np.asarray(ratios)[order]),
        displacements=np.stack([disps[i] for i in order]),
        origin=anat.vent_box_origin.copy(),
        spacing=float(spacing),
    )
