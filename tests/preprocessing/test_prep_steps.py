"""Individual steps: standardisation, anti-aliased downsampling, N4, denoising, mask helpers."""

from __future__ import annotations

import numpy as np
import pytest
from prep_phantoms import centroid_world

from brainuad.preprocessing import steps
from brainuad.preprocessing.geometry import Grid, centred_grid, resample


def _ellipsoid(shape: tuple[int, int, int], radii: tuple[float, float, float]) -> np.ndarray:
    idx = np.indices(shape, dtype=np.float64)
    centre = (np.asarray(shape) - 1) / 2.0
    r2 = sum(((idx[i] - centre[i]) / radii[i]) ** 2 for i in range(3))
    return r2 <= 1.0


def test_standardise_maps_percentiles_to_unit_range() -> None:
    rng = np.random.default_rng(1)
    mask = _ellipsoid((24, 24, 24), (10, 10, 10))
    data = np.where(mask, rng.normal(500, 50, mask.shape), 7.0).astype(np.float32)
    out, (lo, hi) = steps.standardise(data, mask, (1.0, 99.0))
    assert lo == pytest.approx(np.percentile(data[mask], 1))
    assert hi == pytest.approx(np.percentile(data[mask], 99))
    assert out.min() == 0.0 and out.max() == 1.0
    assert np.all(out[~mask] == 0.0)
    assert np.mean(out[mask] == 1.0) == pytest.approx(0.01, abs=0.005)
    assert np.median(out[mask]) == pytest.approx(0.5, abs=0.05)


def test_standardise_rejects_constant_brain() -> None:
    mask = _ellipsoid((10, 10, 10), (4, 4, 4))
    with pytest.raises(ValueError, match="brain intensities are constant"):
        steps.standardise(np.where(mask, 3.0, 0.0), mask)


def test_antialias_sigma_matches_fwhm_rule() -> None:
    assert steps.antialias_sigma(1.0) == 0.0
    assert steps.antialias_sigma(2.5) * steps.FWHM_PER_SIGMA == pytest.approx(np.sqrt(5.25))


def test_downsample_keeps_position_and_suppresses_aliasing() -> None:
    source = centred_grid(np.zeros(3), (60, 60, 60), 1.0)
    target = centred_grid(np.zeros(3), (24, 24, 24), 2.5)
    blob = _ellipsoid((60, 60, 60), (8, 12, 6)).astype(np.float32)
    blob = np.roll(blob, (7, -5, 4), axis=(0, 1, 2))
    small = steps.downsample(blob, source, target)
    assert np.allclose(
        centroid_world(small > 0.5, target.affine),
        centroid_world(blob > 0.5, source.affine),
        atol=1.0,
    )
    # a 2-voxel checkerboard is far above the new Nyquist limit: it must average out
    checker = (np.indices((60, 60, 60)).sum(axis=0) % 2).astype(np.float32)
    inner = (slice(3, -3),) * 3
    filtered = steps.downsample(checker, source, target)[inner]
    naive = resample(checker, source.affine, target, order=1)[inner]
    assert np.std(naive) > 0.03  # plain interpolation aliases
    assert np.std(filtered) < 0.01
    assert np.mean(filtered) == pytest.approx(0.5, abs=0.05)


def test_n4_removes_most_of_a_smooth_bias_field() -> None:
    shape = (48, 52, 44)
    mask = _ellipsoid(shape, (20, 22, 18))
    inner = _ellipsoid(shape, (13, 14, 11))
    clean = np.where(inner, 1.0, np.where(mask, 0.6, 0.0)).astype(np.float32)
    x, y, z = (np.indices(shape) / np.asarray(shape)[:, None, None, None]) - 0.5
    bias = np.exp(0.5 * x - 0.4 * z + 0.6 * y * y).astype(np.float32)
    biased = clean * bias
    out = steps.n4_correct(biased, mask, spacing=2.0, shrink=2, iterations=(30, 30, 20))

    def spread(img: np.ndarray) -> float:  # log-ratio to the clean image inside the brain
        return float(np.std(np.log(img[mask] / clean[mask])))

    assert spread(out) < 0.5 * spread(biased)
    assert np.array_equal(out[~mask], biased[~mask])


def test_denoise_smooths_noise_inside_the_mask_only() -> None:
    rng = np.random.default_rng(3)
    mask = _ellipsoid((40, 40, 40), (16, 16, 16))
    noisy = (np.where(mask, 100.0, 0.0) + rng.normal(0, 10, mask.shape)).astype(np.float32)
    out = steps.denoise(noisy, mask, iterations=5, time_step=0.0625)
    core = _ellipsoid((40, 40, 40), (10, 10, 10))
    assert np.std(out[core]) < 0.8 * np.std(noisy[core])
    assert np.array_equal(out[~mask], noisy[~mask])


def test_mask_helpers() -> None:
    mask = np.zeros((20, 20, 20), dtype=bool)
    mask[2:12, 2:12, 2:12] = True
    mask[6:8, 6:8, 6:8] = False  # a hole
    mask[15:17, 15:17, 15:17] = True  # a speck
    filled = steps.fill_holes(mask)
    assert filled[7, 7, 7] and filled.sum() == mask.sum() + 8
    largest = steps.largest_component(filled)
    assert largest.sum() == 1000 and not largest[16, 16, 16]
    assert steps.bounding_box(largest) == (slice(2, 12),) * 3
    assert steps.bounding_box(largest, margin=3) == (slice(0, 15),) * 3


def test_is_isotropic_tolerance() -> None:
    assert steps.is_isotropic(np.diag([1.0, -1.01, 0.99, 1.0]), 1.0, 0.02)
    assert not steps.is_isotropic(np.diag([1.0, 1.0, 1.2, 1.0]), 1.0, 0.02)
    assert Grid((2, 2, 2), np.eye(4)).spacing == (1.0, 1.0, 1.0)
