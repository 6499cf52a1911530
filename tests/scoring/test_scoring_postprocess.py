"""Post-processing of anomaly maps: masked median against scipy, erosion, component removal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from brainuad.errors import ConfigError
from brainuad.scoring.postprocess import (
    PostprocessConfig,
    eroded_mask,
    masked_median,
    postprocess_map,
    remove_small_components,
    threshold_map,
)


def _ball(shape=(20, 22, 18), radius=8.0) -> np.ndarray:
    idx = np.indices(shape).reshape(3, -1).T
    c = (np.asarray(shape) - 1) / 2
    return (np.linalg.norm(idx - c, axis=1) <= radius).reshape(shape)


def test_masked_median_equals_scipy_at_the_mask() -> None:
    rng = np.random.default_rng(0)
    mask = _ball()
    values = rng.random(mask.shape).astype(np.float32)
    ours = masked_median(values, mask, 5)
    ref = ndi.median_filter(np.where(mask, values, 0.0).astype(np.float32), 5, mode="constant")
    assert np.array_equal(ours[mask], ref[mask])
    assert np.all(ours[~mask] == 0.0)
    # a 3-window too, and an edge-touching mask (the zero padding)
    full = np.ones((6, 7, 5), dtype=bool)
    v = rng.random(full.shape).astype(np.float32)
    assert np.array_equal(masked_median(v, full, 3), ndi.median_filter(v, 3, mode="constant"))


def test_erosion_and_postprocess_restrict_to_the_inner_brain() -> None:
    mask = _ball()
    inner = eroded_mask(mask, 2)
    assert inner.sum() < mask.sum() and np.all(mask[inner])
    assert np.array_equal(inner, ndi.binary_erosion(mask, iterations=2))
    rim_only = np.where(mask & ~inner, 5.0, 0.0)  # a bright rim is removed entirely
    out, m = postprocess_map(rim_only, mask, PostprocessConfig(erode_voxels=2, median_size=0))
    assert np.array_equal(m, inner) and out.max() == 0.0


def test_small_components_are_removed_and_counted() -> None:
    b = np.zeros((12, 12, 12), dtype=bool)
    b[1:4, 1:4, 1:4] = True  # 27 voxels
    b[8, 8, 8] = True  # 1 voxel
    b[9, 9, 9] = True  # touches the previous diagonally: one 26-connected component of 2
    kept, labels, sizes = remove_small_components(b, 3)
    assert kept.sum() == 27 and sizes.tolist() == [27] and labels.max() == 1
    assert threshold_map(b.astype(float), np.ones_like(b), 0.5, 2).sum() == 29


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="median_size: expected 0 .* found 4"):
        PostprocessConfig(median_size=4)
    with pytest.raises(ConfigError, match="erode_voxels"):
        PostprocessConfig(erode_voxels=-1)
    with pytest.raises(ConfigError, match="unknown option.*sigma"):
        PostprocessConfig.from_dict({"sigma": 1})
    assert PostprocessConfig.from_dict(PostprocessConfig().to_dict()) == PostprocessConfig()
