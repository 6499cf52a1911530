"""Grids, resampling, RAS/LPS conversion and the model <-> native round trip."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from prep_phantoms import centroid_world, make_phantom, reoriented
from scipy.spatial.transform import Rotation

from brainuad.preprocessing.geometry import (
    Grid,
    SubjectGeometry,
    centred_grid,
    resample,
    sitk_transform_matrix,
    to_model_space,
    to_native_space,
)
from brainuad.preprocessing.register import to_sitk_image
from brainuad.preprocessing.steps import isotropic_grid


def _rigid(angles: tuple[float, float, float], shift: tuple[float, float, float]) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    m[:3, 3] = shift
    return m


def test_centred_grid_is_centred_and_axis_aligned() -> None:
    grid = centred_grid(np.array([1.0, -2.0, 3.0]), (10, 11, 12), 2.5)
    assert np.allclose(grid.centre, [1.0, -2.0, 3.0])
    assert grid.spacing == (2.5, 2.5, 2.5)
    assert np.allclose(grid.affine[:3, :3], np.diag([2.5, 2.5, 2.5]))


def test_resample_onto_own_grid_is_identity() -> None:
    ph = make_phantom(shape=(20, 22, 24), spacing=8.0)
    out = resample(ph.data, ph.affine, Grid(ph.data.shape, ph.affine))
    assert np.allclose(out, ph.data, atol=1e-3)


def test_resample_shift_moves_content_by_whole_voxels() -> None:
    ph = make_phantom(shape=(20, 22, 24), spacing=8.0)
    moved = ph.affine.copy()
    moved[:3, 3] += [8.0, 0.0, -16.0]  # the output grid starts 1 voxel right, 2 lower
    out = resample(ph.data, ph.affine, Grid(ph.data.shape, moved))
    assert np.allclose(out[:-1, :, 2:], ph.data[1:, :, :-2], atol=1e-3)


def test_reoriented_storage_gives_the_same_world_content() -> None:
    ph = make_phantom(shape=(24, 28, 24), spacing=7.0)
    data, affine = reoriented(ph.data, ph.affine)
    assert data.shape != ph.data.shape  # axes really were permuted
    out = resample(data, affine, Grid(ph.data.shape, ph.affine))
    assert np.allclose(out, ph.data, atol=1e-2)


def test_isotropic_grid_keeps_field_of_view_and_axes() -> None:
    affine = np.diag([-1.0, 1.2, 3.0, 1.0])
    affine[:3, 3] = [50.0, -60.0, -30.0]
    grid = isotropic_grid((100, 100, 40), affine, 1.0)
    assert grid.shape == (100, 120, 120)
    assert np.allclose(np.sign(np.diag(grid.affine)[:3]), [-1, 1, 1])
    corner_old = affine @ np.r_[-0.5, -0.5, -0.5, 1.0]
    corner_new = grid.affine @ np.r_[-0.5, -0.5, -0.5, 1.0]
    assert np.allclose(corner_old, corner_new)


def test_sitk_images_and_transforms_convert_between_lps_and_ras() -> None:
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [10.0, 20.0, 30.0]
    img = to_sitk_image(np.zeros((5, 6, 7), dtype=np.float32), affine)
    assert img.GetSize() == (5, 6, 7)
    # voxel (1, 2, 3) lies at RAS (12, 26, 42) = LPS (-12, -26, 42)
    assert np.allclose(img.TransformIndexToPhysicalPoint((1, 2, 3)), (-12.0, -26.0, 42.0))
    t = sitk.TranslationTransform(3, (1.0, 2.0, 3.0))  # LPS shift
    m = sitk_transform_matrix(t)
    assert np.allclose(m[:3, 3], [-1.0, -2.0, 3.0]) and np.allclose(m[:3, :3], np.eye(3))


def test_geometry_json_round_trip() -> None:
    geo = SubjectGeometry(
        (10, 11, 12),
        np.eye(4) * 2,
        _rigid((5, 0, 0), (1, 2, 3)),
        (4, 5, 6),
        np.diag([3.0, 3.0, 3.0, 1.0]),
    )
    back = SubjectGeometry.from_json(geo.to_json())
    assert back.native_shape == geo.native_shape and back.model_shape == geo.model_shape
    assert np.allclose(back.ref_to_native, geo.ref_to_native)
    assert np.allclose(back.native_affine, geo.native_affine)


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (12.0, -8.0, 20.0)])
def test_native_model_native_round_trip_keeps_the_brain_in_place(angles) -> None:
    ph = make_phantom(shape=(40, 46, 40), spacing=4.5)
    data, affine = reoriented(ph.data, ph.affine)
    brain, _ = reoriented(ph.brain.astype(np.float32), ph.affine)
    model = centred_grid(np.array([0.0, -10.0, 5.0]), (30, 36, 32), 6.0)
    geo = SubjectGeometry(
        brain.shape, affine, _rigid(angles, (6.0, -4.0, 3.0)), model.shape, model.affine
    )
    in_model = to_model_space(brain, geo) > 0.5
    back = to_native_space(in_model.astype(np.float32), geo) > 0.5
    # the model-space brain sits where the inverse transform puts the native brain
    expected = np.linalg.inv(geo.ref_to_native) @ np.r_[centroid_world(brain > 0.5, affine), 1]
    assert np.linalg.norm(centroid_world(in_model, model.affine) - expected[:3]) < 3.0
    assert back.shape == brain.shape
    assert np.linalg.norm(centroid_world(back, affine) - centroid_world(brain > 0.5, affine)) < 3.0
    overlap = 2 * np.count_nonzero(back & (brain > 0.5)) / (back.sum() + (brain > 0.5).sum())
    assert overlap > 0.9


def test_to_native_space_rejects_wrong_shapes() -> None:
    geo = SubjectGeometry((8, 8, 8), np.eye(4), np.eye(4), (4, 4, 4), np.eye(4))
    with pytest.raises(ValueError, match=r"expected a model-space array of shape \(4, 4, 4\)"):
        to_native_space(np.zeros((5, 4, 4)), geo)
    with pytest.raises(ValueError, match=r"expected an array of the scan's shape \(8, 8, 8\)"):
        to_model_space(np.zeros((4, 4, 4)), geo)
