"""Preprocess one scan: :func:`preprocess_subject` (pure: files in, arrays out, nothing written).

The steps, in order (each switchable one follows :class:`PreprocessConfig`):

1. **Load** the NIfTI, reorient to RAS+ (axis permutation/flip only, no interpolation).
2. **1 mm isotropic** working image for deepbet: if the voxels are not 1 mm (within
   ``iso_tolerance``), resample onto a 1 mm grid with the same axes and field of view. It is
   used for skull stripping and registration only; the output is interpolated once, from the
   original voxels, onto the 1 mm crop grid of step 5. Other skull-strip methods work on the
   scan's own grid.
3. **Skull stripping**: deepbet, the subject's mask, or none (see :mod:`.skullstrip`); with
   ``auto`` the scan is first checked (:mod:`.stripcheck`): an already skull-stripped scan
   takes the ``none`` path (mask from the image), a head with skull the ``deepbet`` path. The
   check runs for every scan and is recorded with the path taken (``input_skull_stripped``,
   ``input_zero_fraction``, ``skull_strip_path`` in ``qc``).
4. **Affine registration** of the brain to the MNI152 template (``register``), with the
   similarity check of :mod:`.register`.
5. **One resampling** of the original voxels onto the ``crop_shape`` grid of ``voxel_size`` mm
   centred on the template brain (or, without registration, on the subject's brain): the
   reorientation, the registration and the crop/pad are composed into a single interpolation
   (linear or cubic B-spline). The brain mask (and a lesion mask) follow with linear
   interpolation thresholded at 0.5; outside the brain is set to 0.
6. **N4** bias-field correction inside the mask (``n4``), 7. **curvature-flow denoising**
   (``denoise``), 8. **standardisation** of the ``percentiles`` inside the mask to [0, 1].
9. **Anti-aliased downsampling** by ``downsample`` to ``target_shape``; masks thresholded at 0.5;
   background 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from brainuad.io.nifti import load_volume
from brainuad.preprocessing import skullstrip, steps
from brainuad.preprocessing.config import PreprocessConfig
from brainuad.preprocessing.geometry import Grid, SubjectGeometry, centred_grid, resample
from brainuad.preprocessing.lesions import check_lesion_mask
from brainuad.preprocessing.qc import MIN_BRAIN_ML
from brainuad.preprocessing.register import register_to_template
from brainuad.preprocessing.stripcheck import check_skull_stripped
from brainuad.preprocessing.template import bbox_centre, load_template

STEP_NAMES = (
    "load",
    "isotropic",
    "skull_strip",
    "register",
    "resample",
    "n4",
    "denoise",
    "standardise",
    "downsample",
)


class RegistrationFailed(RuntimeError):
    """Raised (with ``on_registration_failure: fail``) when the similarity check fails."""


@dataclass(frozen=True)
class PreprocessedSubject:
    """A model-ready volume (float32 in [0, 1], background 0), its brain mask and records.

    ``lesion`` is the lesion mask carried through the same geometry (None without one) and
    ``lesion_fraction`` the share of each model voxel it covers (float32 in [0, 1], see
    :mod:`.lesions`);
    ``qc`` holds brain volume, registration similarity, intensity percentiles and the seconds
    each step took (``t_<step>``, wall clock; ``t_total``; ``t_cpu`` = CPU seconds of the whole
    subject, the robust figure on a busy machine); ``geometry`` maps model space back to the
    scan.
    """

    volume: np.ndarray
    mask: np.ndarray
    qc: dict[str, Any]
    geometry: SubjectGeometry
    lesion: np.ndarray | None = field(default=None)
    lesion_fraction: np.ndarray | None = field(default=None)


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {name: 0.0 for name in STEP_NAMES}

    def run(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[name] += time.perf_counter() - start


def preprocess_subject(
    image_path: str | Path,
    *,
    mask_path: str | Path | None = None,
    lesion_path: str | Path | None = None,
    config: PreprocessConfig | None = None,
) -> PreprocessedSubject:
    """Run the whole pipeline on one T1 scan and return the model-space arrays and records.

    ``mask_path`` is required by ``skull_strip: mask`` and ignored otherwise; ``lesion_path``
    (optional) is carried through the same geometry. Bad files raise
    :class:`~brainuad.errors.InputFileError`; a scan the pipeline cannot handle (no brain found,
    brain outside the grid, failed registration with ``on_registration_failure: fail``) raises
    ``RuntimeError``.
    """
    cfg = config or PreprocessConfig()
    timer = _Timer()
    start, start_cpu = time.perf_counter(), time.process_time()
    vol = timer.run("load", load_volume, image_path)
    header = nib.load(str(image_path))
    native_shape = tuple(int(s) for s in header.shape[:3])
    native_affine = np.asarray(header.affine, dtype=np.float64)

    # is the input already skull-stripped? (decides the path with skull_strip "auto")
    check = timer.run("skull_strip", check_skull_stripped, vol.data, vol.spacing)
    method = cfg.skull_strip
    if method == "auto":
        method = "none" if check.stripped else "deepbet"

    # 2. 1 mm isotropic working image for deepbet (the other methods use the scan's own grid)
    work, work_affine = vol.data, vol.affine
    needs_iso = method == "deepbet"
    if needs_iso and not steps.is_isotropic(vol.affine, 1.0, cfg.iso_tolerance):
        grid = steps.isotropic_grid(vol.shape, vol.affine, 1.0)
        work = timer.run("isotropic", resample, vol.data, vol.affine, grid, order=_order(cfg))
        work_affine = grid.affine
    work_grid = Grid(tuple(int(s) for s in work.shape), work_affine)  # type: ignore[arg-type]

    # 3. skull stripping
    brain = timer.run("skull_strip", _skull_strip, method, work, work_grid, mask_path, cfg)
    voxel_ml = float(np.prod(work_grid.spacing)) / 1000.0
    qc: dict[str, Any] = {
        "brain_volume_ml": float(brain.sum()) * voxel_ml,
        "skull_strip_path": method,
        "input_skull_stripped": check.stripped,
        "input_zero_fraction": check.zero_fraction,
    }
    if not qc["brain_volume_ml"] >= MIN_BRAIN_ML:
        raise RuntimeError(
            f"QC: implausible brain volume {qc['brain_volume_ml']:.3g} ml after skull stripping "
            f"'{method}' (at least {MIN_BRAIN_ML:g} ml expected): not a brain scan?"
        )

    # 4. registration
    ref_to_native = np.eye(4)
    if cfg.register:
        reg = timer.run(
            "register",
            register_to_template,
            work,
            brain,
            work_affine,
            resolution=cfg.register_resolution,
            iterations=cfg.register_iterations,
            min_similarity=cfg.register_min_similarity,
        )
        ref_to_native = reg.ref_to_native
        centre = load_template().brain_centre
        qc.update(
            reg_similarity=reg.similarity,
            reg_mask_dice=reg.mask_dice,
            reg_volume_ratio=reg.volume_ratio,
            reg_ok=reg.ok,
        )
        if not reg.ok and cfg.on_registration_failure == "fail":
            raise RegistrationFailed(
                f"registration to the template failed the similarity check (correlation "
                f"{reg.similarity:.3f} < {cfg.register_min_similarity}, volume ratio "
                f"{reg.volume_ratio:.2f})"
            )
    else:
        centre = bbox_centre(brain, work_affine)
        qc.update(
            reg_similarity=float("nan"),
            reg_mask_dice=float("nan"),
            reg_volume_ratio=1.0,
            reg_ok=True,
        )

    # 5. one resampling onto the crop grid
    crop = centred_grid(centre, cfg.crop_shape, cfg.voxel_size)
    data, mask, lesion = timer.run(
        "resample", _to_crop_grid, vol, work_affine, brain, lesion_path, crop, ref_to_native, cfg
    )
    # brain volume kept by the crop, relative to the subject's brain mapped to reference space
    crop_ml = float(mask.sum()) * cfg.voxel_size**3 / 1000.0
    qc["crop_brain_fraction"] = crop_ml * qc["reg_volume_ratio"] / qc["brain_volume_ml"]

    # 6-8. intensities
    if cfg.n4:
        data = timer.run(
            "n4",
            steps.n4_correct,
            data,
            mask,
            spacing=cfg.voxel_size,
            shrink=cfg.n4_shrink,
            iterations=cfg.n4_iterations,
        )
    if cfg.denoise:
        data = timer.run(
            "denoise",
            steps.denoise,
            data,
            mask,
            spacing=cfg.voxel_size,
            iterations=cfg.denoise_iterations,
            time_step=cfg.denoise_time_step,
        )
    data, (lo, hi) = timer.run("standardise", steps.standardise, data, mask, cfg.percentiles)
    qc.update(raw_low=lo, raw_high=hi)

    # 9. downsampling
    model = centred_grid(crop.centre, cfg.target_shape, cfg.voxel_size * cfg.downsample)
    volume, model_mask, fraction = timer.run(
        "downsample", _downsample, data, mask, lesion, crop, model
    )
    model_lesion = None if fraction is None else (fraction > 0.5).astype(np.uint8)
    inside = volume[model_mask.astype(bool)]
    p01, p50, p99 = (
        (float(v) for v in np.percentile(inside, (1, 50, 99))) if inside.size else (0.0, 0.0, 0.0)
    )
    qc.update(p01=p01, p50=p50, p99=p99)
    qc.update({f"t_{name}": round(sec, 4) for name, sec in timer.seconds.items()})
    qc["t_total"] = round(time.perf_counter() - start, 4)
    qc["t_cpu"] = round(time.process_time() - start_cpu, 4)  # CPU seconds of this process
    geometry = SubjectGeometry(
        native_shape,
        native_affine,
        ref_to_native,  # type: ignore[arg-type]
        tuple(cfg.target_shape),
        model.affine,
    )
    return PreprocessedSubject(volume, model_mask, qc, geometry, model_lesion, fraction)


def _order(cfg: PreprocessConfig) -> int:
    return 3 if cfg.interpolation == "bspline" else 1


def _skull_strip(
    method: str,
    work: np.ndarray,
    grid: Grid,
    mask_path: str | Path | None,
    cfg: PreprocessConfig,
) -> np.ndarray:
    if method == "deepbet":
        return skullstrip.deepbet_mask(
            work, threshold=cfg.deepbet_threshold, shape=cfg.deepbet_shape
        )
    if method == "mask":
        if mask_path is None:
            raise RuntimeError("skull_strip 'mask' needs a brain mask (manifest column 'mask')")
        return skullstrip.mask_from_file(mask_path, grid)
    return skullstrip.mask_from_nonzero(work, cfg.none_threshold)


def _to_crop_grid(
    vol: Any,
    work_affine: np.ndarray,
    brain: np.ndarray,
    lesion_path: str | Path | None,
    crop: Grid,
    ref_to_native: np.ndarray,
    cfg: PreprocessConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    data = resample(vol.data, vol.affine, crop, ref_to_native=ref_to_native, order=_order(cfg))
    mask = resample(brain.astype(np.float32), work_affine, crop, ref_to_native=ref_to_native) > 0.5
    if not mask.any():
        raise RuntimeError("the brain falls outside the crop grid (check the registration)")
    data[~mask] = 0.0
    np.maximum(data, 0.0, out=data)
    lesion = None
    if lesion_path is not None:
        les = load_volume(lesion_path, allow_constant=True)
        check_lesion_mask(les, vol, lesion_path)
        lesion = resample(
            (les.data > 0).astype(np.float32), les.affine, crop, ref_to_native=ref_to_native
        )
    return data, mask, lesion


def _downsample(
    data: np.ndarray, mask: np.ndarray, lesion: np.ndarray | None, crop: Grid, model: Grid
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    volume = steps.downsample(data, crop, model)
    model_mask = steps.downsample(mask.astype(np.float32), crop, model) > 0.5
    volume[~model_mask] = 0.0
    np.clip(volume, 0.0, 1.0, out=volume)
    fraction = None
    if lesion is not None:
        fraction = np.clip(steps.downsample(lesion, crop, model), 0.0, 1.0).astype(np.float32)
    return volume.astype(np.float32), model_mask.astype(np.uint8), fraction
