"""Post-processing of voxel anomaly maps, as the unsupervised anomaly segmentation field does it.

The conventions follow Baur et al. 2021 (*Autoencoders for unsupervised anomaly segmentation in
brain MR images: a comparative study*, the paper's reference [3]); each step is a named option
of :class:`PostprocessConfig` (set it to 0 to switch the step off):

- ``erode_voxels`` (default 2, 5 mm at the 2.5 mm model grid): the map is restricted to the
  brain mask eroded by this many voxels (6-connected structuring element, iterated). The brain's
  rim always reconstructs badly (partial volume with the background), so without the erosion
  every map lights up along the cortex.
- ``median_size`` (default 5, i.e. a 5x5x5 window): a median filter of the masked map (zero
  outside the eroded mask, the window padded with zeros), computed at the mask's voxels only;
  it removes isolated bright voxels and keeps edges.
- ``min_component_ml`` (default 0.125 ml = 8 voxels of 2.5 mm): after thresholding, connected
  components (26-connected) smaller than this volume are removed from the binary mask.

The first two steps make the continuous map that is ranked (voxel AUROC/AUPRC) and thresholded;
the third applies to the binary masks (Dice, predict's candidate regions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from brainuad.errors import ConfigError

_CHUNK = 32_768  # voxels gathered at once by the median (chunk x window floats)


@dataclass(frozen=True)
class PostprocessConfig:
    """The post-processing of a voxel anomaly map (see the module docstring)."""

    erode_voxels: int = 2
    median_size: int = 5
    min_component_ml: float = 0.125

    def __post_init__(self) -> None:
        if int(self.erode_voxels) < 0 or int(self.erode_voxels) != self.erode_voxels:
            raise ConfigError(
                f"erode_voxels: expected a non-negative integer, found {self.erode_voxels!r}"
            )
        if int(self.median_size) != self.median_size or (
            self.median_size != 0 and (self.median_size < 1 or self.median_size % 2 == 0)
        ):
            raise ConfigError(
                f"median_size: expected 0 (off) or an odd window size, found {self.median_size!r}"
            )
        if not float(self.min_component_ml) >= 0.0:
            raise ConfigError(
                f"min_component_ml: expected a volume >= 0 ml, found {self.min_component_ml!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for JSON records and fingerprints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PostprocessConfig:
        """The inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"postprocess: unknown option(s) {', '.join(unknown)}")
        return cls(**values)


def eroded_mask(mask: np.ndarray, voxels: int) -> np.ndarray:
    """The brain mask eroded by ``voxels`` iterations (6-connected); boolean."""
    m = np.asarray(mask) > 0
    if voxels <= 0 or not m.any():
        return m
    return ndi.binary_erosion(m, iterations=int(voxels), border_value=0)


def masked_median(values: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """``size``-cube median of ``values * mask`` (zero padding), evaluated at ``mask`` only.

    Equal, at the mask's voxels, to ``scipy.ndimage.median_filter(values * mask, size,
    mode="constant")``; zero elsewhere. Only the mask's voxels are gathered (a chunk at a time),
    which is several times faster than filtering the whole volume.
    """
    m = np.asarray(mask) > 0
    v = np.where(m, np.asarray(values, dtype=np.float32), np.float32(0.0))
    out = np.zeros_like(v)
    if size <= 1 or not m.any():
        return v
    r = size // 2
    padded = np.pad(v, r).ravel()
    shape = np.asarray(v.shape) + 2 * r
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    grid = np.indices((size, size, size)).reshape(3, -1).T
    offsets = (grid * strides).sum(axis=1)
    centres = ((np.argwhere(m)) * strides).sum(axis=1)  # window corner in padded coordinates
    mid = offsets.size // 2
    result = np.empty(centres.size, dtype=np.float32)
    for start in range(0, centres.size, _CHUNK):
        block = padded[centres[start : start + _CHUNK, None] + offsets[None, :]]
        result[start : start + _CHUNK] = np.partition(block, mid, axis=1)[:, mid]
    out[m] = result
    return out


def postprocess_map(
    amap: np.ndarray, brain_mask: np.ndarray, config: PostprocessConfig = PostprocessConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """The post-processed map and the (eroded) mask it is evaluated on.

    Returns ``(map float32, zero outside the mask; mask bool)``.
    """
    mask = eroded_mask(brain_mask, config.erode_voxels)
    if config.median_size > 1:
        return masked_median(amap, mask, config.median_size), mask
    return np.where(mask, np.asarray(amap, dtype=np.float32), np.float32(0.0)), mask


def remove_small_components(
    binary: np.ndarray, min_voxels: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop 26-connected components with fewer than ``min_voxels`` voxels.

    Returns ``(kept mask, labels of the kept components 1..K, voxel count of each kept)``.
    """
    b = np.asarray(binary, dtype=bool)
    labels, n = ndi.label(b, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return b, labels, np.zeros(0, dtype=np.int64)
    sizes = np.bincount(labels.ravel())[1:]
    keep = sizes >= min_voxels
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[1:][keep] = np.arange(1, int(keep.sum()) + 1)
    kept = relabel[labels]
    return kept > 0, kept, sizes[keep].astype(np.int64)


def min_component_voxels(config: PostprocessConfig, voxel_ml: float) -> float:
    """``min_component_ml`` in voxels of ``voxel_ml`` millilitres."""
    return float(config.min_component_ml) / float(voxel_ml) if voxel_ml > 0 else 0.0


def threshold_map(
    processed: np.ndarray, mask: np.ndarray, threshold: float, min_voxels: float
) -> np.ndarray:
    """Binary anomaly mask: ``processed > threshold`` inside ``mask``, small components removed."""
    binary = (np.asarray(processed) > threshold) & (np.asarray(mask) > 0)
    if min_voxels <= 1:
        return binary
    return remove_small_components(binary, min_voxels)[0]
