"""Affine registration to the MNI152 template: recovery of a known pose, determinism, QC flag."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from brainuad.preprocessing.register import dice_score, normalised_correlation, register_to_template
from brainuad.preprocessing.steps import downsample, isotropic_grid
from brainuad.preprocessing.template import load_template


@pytest.fixture(scope="module")
def template_2mm() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The template brain and mask on a 2 mm grid (a smaller 'scan' of a known brain)."""
    tpl = load_template()
    grid = isotropic_grid(tpl.data.shape, tpl.affine, 2.0)
    data = downsample(tpl.data * 800.0, tpl.grid, grid)
    mask = downsample(tpl.mask.astype(np.float32), tpl.grid, grid) > 0.5
    return data, mask, grid.affine


def _pose(angles, shift, scale=1.0) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", angles, degrees=True).as_matrix() * scale
    m[:3, 3] = shift
    return m


def _mean_error_mm(estimated: np.ndarray, truth: np.ndarray) -> float:
    tpl = load_template()
    pts = np.argwhere(tpl.mask)[::97]
    world = np.c_[pts, np.ones(len(pts))] @ tpl.affine.T
    return float(np.linalg.norm((world @ (estimated - truth).T)[:, :3], axis=1).mean())


def test_recovers_a_known_pose_and_is_deterministic(template_2mm) -> None:
    data, mask, affine = template_2mm
    pose = _pose((9.0, -6.0, 12.0), (14.0, -18.0, 9.0), scale=1.08)
    # the same voxels placed elsewhere in the world: the brain now sits at pose @ template
    moved_affine = pose @ affine
    first = register_to_template(data, mask, moved_affine, resolution=3.0, iterations=60)
    second = register_to_template(data, mask, moved_affine, resolution=3.0, iterations=60)
    assert _mean_error_mm(first.ref_to_native, pose) < 1.5
    assert first.ok and first.similarity > 0.9 and first.mask_dice > 0.9
    assert first.volume_ratio == pytest.approx(1.08**3, rel=0.05)
    assert np.array_equal(first.ref_to_native, second.ref_to_native)


def test_flags_an_upside_down_scan(template_2mm) -> None:
    data, mask, affine = template_2mm
    flipped = _pose((180.0, 0.0, 0.0), (0.0, 0.0, 0.0)) @ affine
    result = register_to_template(
        data, mask, flipped, resolution=3.0, iterations=40, min_similarity=0.6
    )
    assert not result.ok
    assert result.similarity < 0.6


def test_similarity_measures() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((10, 10, 10))
    mask = np.ones_like(a, dtype=bool)
    assert normalised_correlation(a, 3 * a + 1, mask) == pytest.approx(1.0)
    assert normalised_correlation(a, -a, mask) == pytest.approx(-1.0)
    assert normalised_correlation(a, np.zeros_like(a), mask) == 0.0
    b = np.zeros((4, 4, 4), dtype=bool)
    c = b.copy()
    b[:2] = True
    c[1:3] = True
    assert dice_score(b, c) == pytest.approx(0.5)
    assert dice_score(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
