"""Scanner variation: tissue contrast, bias field, blur, Rician noise, stored units, orientation.

Clinical T1 scans come from many vendors, field strengths and sequences (the paper's cohort: 22
vendors, 1/1.5/3 T, 68 configurations), so each subject draws its own:

- contrast (relative to white matter = 1): grey matter 0.62-0.75, CSF 0.20-0.38;
- a multiplicative bias field exp(a * smooth noise), a = 0.05-0.30, correlation 60-110 mm;
- a Gaussian blur of 0.2-0.7 mm SD (point-spread function);
- Rician noise, SD 1.5-5 % of white matter (SNR 20-65), which also fills the air background;
- stored units: white matter at 250-2500 (log-uniform), written as int16 like raw scans;
- with ``orientation_jitter``: axis order RAS, LAS, LPS, PIR or ASL, an oblique rotation of up
  to 6 degrees and an origin shift of up to 20 mm in the affine (the anatomy in the volume is
  unchanged; only where the scanner put it in world space differs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform
from scipy import ndimage as ndi

from brainuad.synth.fields import smooth_noise

ORIENTATIONS = ("RAS", "LAS", "LPS", "PIR", "ASL")


@dataclass(frozen=True)
class ScannerParams:
    """One subject's acquisition."""

    gm: float
    csf: float
    bias_amplitude: float
    bias_cell_mm: float
    blur_mm: float
    noise_sd: float
    gain: float
    orientation: str
    oblique_deg: tuple[float, float, float]
    shift_mm: tuple[float, float, float]


def sample_scanner(rng: np.random.Generator, *, jitter: bool = True) -> ScannerParams:
    """Draw scanner parameters (same number of draws whatever ``jitter`` is)."""
    gm = float(rng.uniform(0.62, 0.75))
    csf = float(rng.uniform(0.20, 0.38))
    bias = float(rng.uniform(0.05, 0.30))
    cell = float(rng.uniform(60.0, 110.0))
    blur = float(rng.uniform(0.2, 0.7))
    noise = float(rng.uniform(0.015, 0.05))
    gain = float(math.exp(rng.uniform(math.log(250.0), math.log(2500.0))))
    orient = ORIENTATIONS[int(rng.integers(len(ORIENTATIONS)))]
    oblique = tuple(float(a) for a in rng.uniform(-6.0, 6.0, 3))
    shift = tuple(float(s) for s in rng.uniform(-20.0, 20.0, 3))
    if not jitter:
        orient, oblique, shift = "RAS", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    return ScannerParams(gm, csf, bias, cell, blur, noise, gain, orient, oblique, shift)  # type: ignore[arg-type]


def acquire(
    image: np.ndarray,
    params: ScannerParams,
    rng: np.random.Generator,
    voxel_size: float,
) -> np.ndarray:
    """Bias field, blur and Rician noise applied to a noise-free image (WM ~ 1), float32."""
    field = smooth_noise(rng, image.shape, params.bias_cell_mm / voxel_size / 2.0)[0]
    image = image * np.exp(np.float32(params.bias_amplitude) * field)
    sigma = params.blur_mm / voxel_size
    if sigma > 0.15:
        image = ndi.gaussian_filter(image, sigma, mode="constant")
    sd = np.float32(params.noise_sd)
    real = image + sd * rng.standard_normal(image.shape, dtype=np.float32)
    imag = sd * rng.standard_normal(image.shape, dtype=np.float32)
    return np.sqrt(real * real + imag * imag)


def to_stored_units(image: np.ndarray, gain: float) -> np.ndarray:
    """Scale (WM ~ 1) to scanner units and round to int16."""
    return np.clip(np.rint(image * np.float32(gain)), 0, 32767).astype(np.int16)


def reorient(
    arrays: list[np.ndarray],
    affine: np.ndarray,
    params: ScannerParams,
    centre: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Store RAS arrays in ``params.orientation``; apply the oblique rotation/shift to the affine.

    World coordinates of every voxel are preserved by the axis reordering; the oblique rigid
    transform (about ``centre``, world mm) then moves the whole volume in world space.
    """
    shape = arrays[0].shape
    transform = ornt_transform(
        axcodes2ornt(("R", "A", "S")), axcodes2ornt(tuple(params.orientation))
    )
    out = [np.ascontiguousarray(apply_orientation(a, transform)) for a in arrays]
    new_affine = affine @ inv_ornt_aff(transform, shape)
    rot = _rotation_deg(params.oblique_deg)
    rigid = np.eye(4)
    rigid[:3, :3] = rot
    rigid[:3, 3] = centre - rot @ centre + np.asarray(params.shift_mm)
    return out, rigid @ new_affine


def _rotation_deg(angles: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.deg2rad(angles)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx
