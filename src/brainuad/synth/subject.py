"""Generate one synthetic T1-weighted subject (normal or with a glioma).

Pipeline, all driven by one seed (independent streams for anatomy, ageing, tumour, head and
scanner, so that changing the age of a subject changes nothing but the age effects):

1. template-space intensities: the MNI152 T1 mapped through the subject's tissue contrast,
   with the age effects of :mod:`brainuad.synth.ageing` (cortical GM -> CSF, GM/WM contrast,
   white-matter lesions) and, for a raw-like scan, a synthetic head (:mod:`.headmodel`);
2. one backward warp (:mod:`.deform`: head size, pose, smooth deformation, ventricle
   expansion, tumour mass effect), applied with trilinear interpolation;
3. the tumour painted in subject space (:mod:`.tumour`);
4. acquisition (:mod:`.scanner`): bias, blur, Rician noise, int16 units, stored orientation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from brainuad.errors import ConfigError
from brainuad.synth import ageing as ageing_mod
from brainuad.synth import headmodel, scanner
from brainuad.synth.anatomy import Anatomy, load_anatomy
from brainuad.synth.config import SynthConfig
from brainuad.synth.deform import sample_transform, sampling_coords
from brainuad.synth.fields import smooth_noise, warp_channels
from brainuad.synth.tumour import paint_tumour, sample_tumour, tumour_box

_STREAMS = ("anatomy", "ageing", "tumour", "head", "scanner", "noise")


@dataclass(frozen=True)
class SyntheticSubject:
    """One generated scan, already in its stored orientation (``affine`` maps voxels to mm).

    ``image`` is int16 in scanner units; ``brain_mask`` and ``lesion_mask`` are uint8 (the lesion
    mask is ``None`` for normal subjects); ``tissue`` (GM, WM, CSF fractions, float32) is only
    filled when asked for. ``info`` records the drawn parameters.
    """

    image: np.ndarray
    affine: np.ndarray
    brain_mask: np.ndarray
    lesion_mask: np.ndarray | None
    age: float
    label: int
    info: dict[str, float | str] = field(default_factory=dict)
    tissue: np.ndarray | None = None


def generate_subject(
    age: float,
    label: int,
    *,
    seed: int | np.random.SeedSequence = 0,
    config: SynthConfig = SynthConfig(),
    return_tissue: bool = False,
) -> SyntheticSubject:
    """Generate one subject of ``age`` years; ``label`` 1 adds a glioma (the lesion mask).

    The same ``seed`` gives the same subject; changing only ``age`` changes only the age
    effects, changing only ``label`` only adds the tumour (and its mass effect).
    """
    if isinstance(label, bool) or label not in (0, 1):
        raise ConfigError(f"label must be 0 (normal) or 1 (anomalous), found {label!r}")
    if not isinstance(age, (int, float)) or not math.isfinite(age) or not 0 <= age <= 120:
        raise ConfigError(f"age must be a number of years between 0 and 120, found {age!r}")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rngs = dict(
        zip(_STREAMS, (np.random.default_rng(s) for s in ss.spawn(len(_STREAMS))), strict=True)
    )
    anat = load_anatomy(config.voxel_size)
    scan = scanner.sample_scanner(rngs["scanner"], jitter=config.orientation_jitter)
    effects = ageing_mod.sample_ageing(rngs["ageing"], age, anat, enabled=config.ageing)
    transform = sample_transform(rngs["anatomy"], anat)
    gm_level = 1.0 - (1.0 - scan.gm) * effects.contrast

    loss = ageing_mod.cortical_loss(anat, effects)
    intensity = _template_intensity(anat, scan.csf, gm_level, loss, effects, rngs["ageing"])
    if config.skull:
        _add_head(intensity, anat, scan.csf, rngs["head"])

    tumour = None
    if label == 1:
        t_rng = rngs["tumour"]
        centre_t = anat.tumour_candidates[int(t_rng.integers(len(anat.tumour_candidates)))]
        tumour = sample_tumour(
            t_rng, transform.to_output(centre_t), config.tumour_volume_ml, (scan.csf, gm_level)
        )
    coords = sampling_coords(anat, transform, effects, tumour)
    channels = [intensity, anat.brain]
    if return_tissue or tumour is not None:
        gm = anat.gm.copy()
        gm.ravel()[anat.b_idx] -= loss
    if return_tissue:
        channels += [gm, anat.wm]
    warped = warp_channels(channels, coords)
    image, brain = warped[0], warped[1]
    info: dict[str, float | str] = {
        "bio_age": round(effects.bio_age, 2),
        "gm_loss": round(effects.gm_loss, 4),
        "ventricle_ratio": round(effects.vent_ratio, 3),
        "n_wmh": effects.n_wmh,
        "head_scale": round(transform.scale, 4),
        "orientation": scan.orientation,
        "noise_sd": round(scan.noise_sd, 4),
        "bias_amplitude": round(scan.bias_amplitude, 3),
    }
    lesion = None
    if tumour is not None:
        box = tumour_box(tumour, anat.affine, anat.shape)
        if return_tissue:
            gm_box, wm_box = warped[2][box], warped[3][box]
        else:  # GM and WM are only needed around the tumour
            gm_box, wm_box = warp_channels([gm, anat.wm], coords[(slice(None), *box)])
        lesion, t_info = paint_tumour(
            image, brain, gm_box + wm_box, wm_box, tumour, anat.affine, rngs["tumour"]
        )
        info.update({k: round(v, 2) for k, v in t_info.items()})
    del coords
    brain_mask = brain > 0.5
    if lesion is not None:
        brain_mask |= lesion

    image = scanner.acquire(image, scan, rngs["noise"], anat.voxel_size)
    if not config.skull:
        image *= brain_mask
    stored = [scanner.to_stored_units(image, scan.gain), brain_mask.astype(np.uint8)]
    if lesion is not None:
        stored.append(lesion.astype(np.uint8))
    tissue = None
    if return_tissue:
        csf = np.clip(warped[1] - warped[2] - warped[3], 0, 1)
        stored += [warped[2], warped[3], csf]
    out, affine = scanner.reorient(stored, anat.affine, scan, anat.brain_centre)
    if return_tissue:
        tissue = np.stack(out[-3:]).astype(np.float32)
        out = out[:-3]
    return SyntheticSubject(
        image=out[0],
        affine=affine,
        brain_mask=out[1],
        lesion_mask=out[2] if lesion is not None else None,
        age=float(age),
        label=int(label),
        info=info,
        tissue=tissue,
    )


def _template_intensity(
    anat: Anatomy,
    csf: float,
    gm: float,
    loss: np.ndarray,
    effects: ageing_mod.AgeingEffects,
    rng: np.random.Generator,
) -> np.ndarray:
    """Full-grid template-space intensities of the brain (WM ~ 1), zero elsewhere."""
    l_csf, l_gm, l_wm = anat.t1_levels
    top = 1.0 + (1.0 - l_wm) * (1.0 - gm) / (l_wm - l_gm)
    vals = np.interp(anat.t1_b, [0.0, l_csf, l_gm, l_wm, 1.0], [0.0, csf, gm, 1.0, top])
    vals = vals.astype(np.float32)
    vals -= loss * np.float32(gm - csf)
    wmh = ageing_mod.wmh_weights(anat, effects, rng)
    wmh_level = np.float32(gm - rng.uniform(-0.05, 0.1))
    vals += wmh * (wmh_level - vals)
    out = np.zeros(anat.n_voxels, np.float32)
    out[anat.b_idx] = vals * anat.brain.ravel()[anat.b_idx]
    return out.reshape(anat.shape)


def _add_head(intensity: np.ndarray, anat: Anatomy, csf: float, rng: np.random.Generator) -> None:
    """Add the synthetic head (scalp, skull, face, neck) around the brain, in place."""
    geom = anat.head
    tissues = headmodel.sample_head_tissues(rng, csf)
    cell = 3.0 / anat.voxel_size
    noise = smooth_noise(rng, anat.shape, cell, channels=3, smooth_cells=2.0)
    noise = noise.reshape(3, -1)[:, geom.idx]
    values = headmodel.head_intensities(geom, tissues, noise, cord_level=0.85)
    flat = intensity.reshape(-1)
    flat[geom.idx] += values * (1.0 - geom.brain_frac)
