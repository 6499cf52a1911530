"""Quality checks of a scan before its scores are trusted (warnings in the prediction).

The measurements come from preprocessing (:func:`brainuad.preprocessing.preprocess_subject`):

* the preprocessing pipeline's own flags (failed registration, brain cut off by the crop grid,
  :func:`brainuad.preprocessing.qc.qc_flags`);
* **brain mask volume** outside the plausible range for a human brain
  (:data:`BRAIN_VOLUME_ML`), or outside the range of the training subjects widened by
  :data:`VOLUME_MARGIN` on each side (when the bundle records it);
* **intensities off**: a flat image (equal low and high standardisation percentiles), or a median
  brain intensity after standardisation more than :data:`INTENSITY_MARGIN` outside the range of
  the training subjects (e.g. another contrast than T1, or an inverted image);
* **thick voxels**: a voxel edge longer than ``max(2 mm, 1.5 x the model grid's voxel size)``
  (the model was trained on near-isotropic scans).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BRAIN_VOLUME_ML = (600.0, 2500.0)
VOLUME_MARGIN = 0.25
INTENSITY_MARGIN = 0.15
MIN_THICK_VOXEL_MM = 2.0


@dataclass(frozen=True)
class QualityReport:
    """Outcome of the checks: ``passed`` is False when any message was raised."""

    messages: tuple[str, ...]
    measures: dict[str, Any]

    @property
    def passed(self) -> bool:
        return not self.messages

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "messages": list(self.messages), "measures": self.measures}


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def check_quality(
    qc: Mapping[str, Any],
    spacing: Sequence[float],
    *,
    qc_reference: Mapping[str, Mapping[str, float]] | None = None,
    model_voxel_mm: float = 1.0,
) -> QualityReport:
    """Run the checks of the module docstring on one scan's preprocessing measurements."""
    from brainuad.preprocessing.qc import qc_flags

    ref = qc_reference or {}
    messages = list(qc_flags(qc))
    volume = _finite(qc.get("brain_volume_ml"))
    if volume is not None:
        lo, hi = BRAIN_VOLUME_ML
        if not lo <= volume <= hi:
            messages.append(
                f"brain mask volume {volume:.0f} mL is implausible (expected {lo:.0f}-{hi:.0f} mL;"
                " check skull stripping)"
            )
        elif "brain_volume_ml" in ref:
            r = ref["brain_volume_ml"]
            r_lo, r_hi = (1 - VOLUME_MARGIN) * r["min"], (1 + VOLUME_MARGIN) * r["max"]
            if not r_lo <= volume <= r_hi:
                messages.append(
                    f"brain mask volume {volume:.0f} mL is far outside the training subjects' "
                    f"{r['min']:.0f}-{r['max']:.0f} mL"
                )
    raw_lo, raw_hi = _finite(qc.get("raw_low")), _finite(qc.get("raw_high"))
    if raw_lo is not None and raw_hi is not None and raw_hi <= raw_lo:
        messages.append(
            f"intensities are flat inside the brain (1st and 99th percentiles both {raw_lo:g})"
        )
    median = _finite(qc.get("p50"))
    if median is not None and "p50" in ref:
        r = ref["p50"]
        if not r["min"] - INTENSITY_MARGIN <= median <= r["max"] + INTENSITY_MARGIN:
            messages.append(
                f"median brain intensity {median:.2f} after standardisation is outside the "
                f"training subjects' {r['min']:.2f}-{r['max']:.2f} (another contrast than T1?)"
            )
    thickest = max(float(s) for s in spacing)
    limit = max(MIN_THICK_VOXEL_MM, 1.5 * float(model_voxel_mm))
    if thickest > limit:
        sizes = "x".join(f"{float(s):.2g}" for s in spacing)
        messages.append(
            f"voxels of {sizes} mm are coarser than the {limit:g} mm the model can rely on "
            "(expected a near-isotropic 3D T1 scan)"
        )
    measures = {
        "brain_volume_ml": volume,
        "median_intensity": median,
        "voxel_size_mm": [float(s) for s in spacing],
        "registration_similarity": _finite(qc.get("reg_similarity")),
        "crop_brain_fraction": _finite(qc.get("crop_brain_fraction")),
    }
    return QualityReport(tuple(messages), measures)
