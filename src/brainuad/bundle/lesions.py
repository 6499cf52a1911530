"""Lesion candidates of ``brainuad predict``: the anomaly map thresholded where the study said.

**Export** (:func:`export_record`): a bundle exported from a study whose cohort had lesion masks
carries, in ``bundle.json["lesion_candidates"]``, the voxel thresholds chosen on the study's
HEALTHY VALIDATION subjects (1% and 5% voxel false-positive rate, see
:mod:`brainuad.evaluation.voxel`) and the post-processing they were chosen with
(:mod:`brainuad.scoring.postprocess`). Without them (no lesion masks in the study) predict
writes no candidate mask and says why.

**Predict** (:func:`find_candidates`): the model-space map is post-processed exactly as on the
validation subjects (eroded brain mask, median filter), thresholded at the 1% threshold, small
components removed, and resampled onto the scan's own grid (linear interpolation of the binary
mask, kept where >= 0.5). On that grid the connected components (26-connected) are the candidate
regions: their number, volumes (ml, from the scan's voxel size) and the largest one's centre in
scanner (world, RAS mm) coordinates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

CANDIDATE_FPR = "fpr1"


@dataclass(frozen=True, eq=False)
class LesionCandidates:
    """The candidate mask on the scan's grid and its regions (largest first)."""

    mask: np.ndarray  # uint8 on the native grid
    threshold: float
    fpr_key: str
    volumes_ml: tuple[float, ...]
    largest_centre_mm: tuple[float, float, float] | None

    @property
    def n_regions(self) -> int:
        return len(self.volumes_ml)

    def to_dict(self) -> dict[str, Any]:
        """The ``lesion_candidates`` entry of the prediction JSON."""
        return {
            "definition": "post-processed anomaly map > the threshold with 1% voxel "
            "false-positive rate on the healthy validation subjects, small components removed, "
            "resampled to the scan's grid",
            "threshold": self.threshold,
            "operating_point": self.fpr_key,
            "n_regions": self.n_regions,
            "volumes_ml": [round(v, 3) for v in self.volumes_ml],
            "total_ml": round(float(sum(self.volumes_ml)), 3),
            "largest_centre_world_mm": None
            if self.largest_centre_mm is None
            else [round(v, 2) for v in self.largest_centre_mm],
        }


def export_record(results_dir: str | Path, method: str) -> dict[str, Any] | None:
    """The ``lesion_candidates`` entry of ``bundle.json`` from a study's localisation record."""
    path = Path(results_dir) / "localisation" / f"{method}.json"
    if not path.is_file():
        return None
    rec = json.loads(path.read_text(encoding="utf-8"))
    return {
        "thresholds": dict(rec["thresholds"]),
        "postprocess": dict(rec["postprocess"]),
        "map_sigma": float(rec.get("map_sigma", 1.0)),
        "chosen_on": "healthy validation subjects (voxel false-positive rate)",
        "n_val_healthy": rec.get("n_val_healthy"),
        "test_pooled": dict(rec.get("pooled", {})),
    }


def find_candidates(
    record: dict[str, Any] | None,
    model_map: np.ndarray | None,
    model_mask: np.ndarray,
    geometry: Any,
) -> LesionCandidates | None:
    """The candidate regions of one scan, or None without thresholds or map."""
    if not record or model_map is None or CANDIDATE_FPR not in record.get("thresholds", {}):
        return None
    from brainuad.preprocessing import to_native_space
    from brainuad.scoring.postprocess import (
        PostprocessConfig,
        min_component_voxels,
        postprocess_map,
        threshold_map,
    )

    config = PostprocessConfig.from_dict(dict(record["postprocess"]))
    threshold = float(record["thresholds"][CANDIDATE_FPR])
    model_affine = np.asarray(geometry.model_affine, dtype=np.float64)
    model_ml = abs(float(np.linalg.det(model_affine[:3, :3]))) / 1000.0
    processed, mask = postprocess_map(model_map, model_mask, config)
    binary = threshold_map(processed, mask, threshold, min_component_voxels(config, model_ml))
    native = to_native_space(binary.astype(np.float32), geometry, order=1) >= 0.5
    native_affine = np.asarray(geometry.native_affine, dtype=np.float64)
    voxel_ml = abs(float(np.linalg.det(native_affine[:3, :3]))) / 1000.0
    labels, n = ndi.label(native, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return LesionCandidates(native.astype(np.uint8), threshold, CANDIDATE_FPR, (), None)
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(-sizes, kind="stable")
    largest = int(order[0]) + 1
    centre_ijk = np.argwhere(labels == largest).mean(axis=0)
    world = native_affine @ np.r_[centre_ijk, 1.0]
    return LesionCandidates(
        native.astype(np.uint8),
        threshold,
        CANDIDATE_FPR,
        tuple(float(sizes[k]) * voxel_ml for k in order),
        (float(world[0]), float(world[1]), float(world[2])),
    )


def candidates_json(candidates: LesionCandidates | None, bundle_record: dict[str, Any]) -> Any:
    """The prediction JSON's ``lesion_candidates``: the regions, or why there are none."""
    if candidates is not None:
        return candidates.to_dict()
    if not bundle_record.get("lesion_candidates"):
        return {
            "unavailable": "the bundle has no voxel thresholds (its study had no lesion masks "
            "to choose them on healthy validation subjects)"
        }
    return {"unavailable": "no anomaly map for this scan"}


def title_part(candidates: LesionCandidates | None) -> str | None:
    """A short line for the overview's title, or None."""
    if candidates is None:
        return None
    if candidates.n_regions == 0:
        return "no lesion candidate at 1% FPR"
    return (
        f"{candidates.n_regions} candidate region(s) at 1% FPR, largest "
        f"{candidates.volumes_ml[0]:.1f} ml"
    )
