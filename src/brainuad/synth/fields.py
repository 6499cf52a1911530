"""Smooth random fields, grid resampling and trilinear warping used by the generator.

Per-subject warps are evaluated on a coarse lattice and upsampled; volumes are then warped
with one trilinear ``torch.nn.functional.grid_sample`` call for all channels (3-4x faster than
``scipy.ndimage.map_coordinates(order=1)`` and 10x faster than order 3 on a 1 mm head; see
``docs/benchmarks/synth.md``). All functions are deterministic for a given generator.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi


def resample_to_spacing(arr: np.ndarray, spacing: float) -> np.ndarray:
    """Anti-aliased resampling of a 1 mm grid to ``spacing`` mm (same origin, float32)."""
    if spacing == 1.0:
        return arr.astype(np.float32, copy=False)
    sigma = 0.425 * math.sqrt(spacing**2 - 1.0)
    smooth = ndi.gaussian_filter(arr.astype(np.float32), sigma)
    out_shape = [int(math.floor((n - 1) / spacing)) + 1 for n in arr.shape]
    if float(spacing).is_integer():
        s = int(spacing)
        return np.ascontiguousarray(smooth[::s, ::s, ::s][tuple(slice(0, n) for n in out_shape)])
    coords = np.meshgrid(
        *[np.arange(n, dtype=np.float32) * spacing for n in out_shape], indexing="ij"
    )
    return ndi.map_coordinates(smooth, coords, order=1, mode="nearest").astype(np.float32)


def coarse_shape(shape: tuple[int, ...], factor: int) -> tuple[int, ...]:
    """Lattice holding grid indices 0, f, 2f, ... up to and beyond the last index."""
    return tuple(int(math.ceil((n - 1) / factor)) + 1 for n in shape)


def upsample(coarse: np.ndarray, shape: tuple[int, int, int], factor: int) -> np.ndarray:
    """Trilinear upsampling of ``(C, *coarse_shape)`` lattice values to ``(C, *shape)``."""
    if factor == 1:
        return np.ascontiguousarray(coarse[(slice(None),) + tuple(slice(0, n) for n in shape)])
    size = [(m - 1) * factor + 1 for m in coarse.shape[1:]]
    with torch.no_grad():
        t = torch.from_numpy(np.ascontiguousarray(coarse, dtype=np.float32))[None]
        up = F.interpolate(t, size=size, mode="trilinear", align_corners=True)[0]
        up = up[:, : shape[0], : shape[1], : shape[2]]
        return up.contiguous().numpy()


def smooth_noise(
    rng: np.random.Generator,
    shape: tuple[int, int, int],
    cell_vox: float,
    channels: int = 1,
    smooth_cells: float = 1.0,
) -> np.ndarray:
    """Zero-mean, unit-SD smooth random fields ``(channels, *shape)``.

    White noise on a lattice of spacing ``cell_vox`` voxels, Gaussian-smoothed over
    ``smooth_cells`` lattice cells (correlation length ~ ``cell_vox * smooth_cells``) and
    upsampled trilinearly (use ``smooth_cells`` > 1 where the linear facets would show).
    """
    factor = max(1, int(round(cell_vox)))
    lat = coarse_shape(shape, factor)
    pad = int(np.ceil(2 * smooth_cells))
    white = rng.standard_normal((channels, *[n + 2 * pad for n in lat])).astype(np.float32)
    smooth = np.stack([ndi.gaussian_filter(w, smooth_cells, mode="wrap") for w in white])
    smooth = smooth[:, pad:-pad, pad:-pad, pad:-pad]
    smooth /= smooth.reshape(channels, -1).std(axis=1).reshape(channels, 1, 1, 1) + 1e-8
    return upsample(smooth, shape, factor)


def warp_channels(
    channels: list[np.ndarray],
    index_coords: np.ndarray,
    *,
    border: bool = True,
) -> list[np.ndarray]:
    """Trilinear samples of each channel at voxel indices ``index_coords`` of shape (3, X, Y, Z).

    ``border=True`` repeats edge voxels outside the grid (so the neck continues below the field
    of view); otherwise outside is 0.
    """
    shape_in = channels[0].shape
    scale = np.array([2.0 / (n - 1) for n in shape_in], dtype=np.float32)
    with torch.no_grad():
        grid = torch.empty((1, *index_coords.shape[1:], 3), dtype=torch.float32)
        for k in range(3):  # grid_sample wants (z, y, x) order in the last axis
            grid[0, ..., 2 - k] = torch.from_numpy(index_coords[k] * scale[k] - 1.0)
        inp = torch.from_numpy(np.stack([np.asarray(c, np.float32) for c in channels]))[None]
        out = F.grid_sample(
            inp,
            grid,
            mode="bilinear",
            padding_mode="border" if border else "zeros",
            align_corners=True,
        )[0]
        return [o.numpy() for o in out]
