"""Scoring new scans with a model bundle, in memory (nothing is written here).

For each scan: the training preprocessing (:func:`brainuad.preprocessing.preprocess_subject` with
the bundle's settings), quality checks (:mod:`brainuad.bundle.quality`), one forward pass (in
batches, :meth:`brainuad.models.VAE.score`) giving L_rec, L_KL and, with an age head, the
predicted brain age ``a_p`` with
L_age = ``|a_p - a_c|``; each score's percentile among the healthy reference subjects; the
combined score and its flag at every operating point; the brain-age gap ``a_p - a_c``; and the
voxel-wise anomaly map (``|x - x~|`` smoothed, inside the brain mask) resampled onto the input
scan's grid.

Missing age: whatever needs it is reported as unavailable (``None`` plus a reason) and the rest
is still computed: L_age and the gap always need the age; a model that scales its latent by the
age also needs it to reconstruct, so without it only what the encoder gives is available (L_KL
and, with an age head, the predicted age), and no map. The combined score is available when
every score with a non-zero weight is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from brainuad.bundle.lesions import LesionCandidates, find_candidates
from brainuad.bundle.load import Bundle
from brainuad.bundle.quality import QualityReport, check_quality
from brainuad.bundle.reference import SCORE_NAMES
from brainuad.errors import BrainUADError, CheckpointError, ConfigError, InputFileError
from brainuad.io.manifest import MAX_AGE
from brainuad.preprocessing import PreprocessConfig, PreprocessedSubject

_LABELS = {"rec": "L_rec", "kl": "L_KL", "age": "L_age", "combined": "the combined score"}
NO_AGE_INPUT = (
    "this model needs the chronological age to reconstruct the scan (its latent is scaled by "
    "it); none was given"
)
NO_AGE_HEAD = "this model has no age head (L_age needs a model that predicts the brain age)"


@dataclass(frozen=True)
class ScanInput:
    """One scan to assess: its id, image, chronological age (years, optional), brain mask."""

    subject_id: str
    image: Path
    age: float | None = None
    mask: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", Path(self.image))
        if self.mask is not None:
            object.__setattr__(self, "mask", Path(self.mask))
        object.__setattr__(self, "age", validate_age(self.age, f"age of {self.subject_id}"))


@dataclass(frozen=True, eq=False)
class ScanPrediction:
    """Everything reported for one scan (see the module docstring).

    ``scores``/``percentiles`` are keyed by ``rec``, ``kl``, ``age`` (L_age) and ``combined``;
    a value is ``None`` when unavailable, with the reason in ``unavailable``. ``flags`` maps each
    operating point to True/False (``None`` without a combined score). ``anomaly_map`` lies on
    the input scan's grid (``native_affine``); ``model_map`` on the model grid.
    ``brain_age_gap`` is ``a_p - a_c``; ``brain_age_gap_corrected`` removes the linear
    regression towards the mean fitted on the bundle's healthy validation subjects.
    """

    subject_id: str
    image: Path
    age: float | None
    scores: dict[str, float | None]
    percentiles: dict[str, float | None]
    unavailable: dict[str, str]
    flags: dict[str, bool | None]
    age_pred: float | None
    brain_age_gap: float | None
    warnings: tuple[str, ...]
    quality: QualityReport
    anomaly_map: np.ndarray | None
    native_affine: np.ndarray
    model_map: np.ndarray | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    brain_age_gap_corrected: float | None = None
    lesions: LesionCandidates | None = None  # brainuad.bundle.lesions


def validate_age(age: float | str | None, source: str = "--age") -> float | None:
    """A chronological age in years (0-120) or None; :class:`ConfigError` otherwise."""
    if age is None or (isinstance(age, str) and age.strip() == ""):
        return None
    try:
        value = float(age)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: expected an age in years, found {age!r}") from exc
    if not math.isfinite(value) or not 0.0 <= value <= MAX_AGE:
        raise ConfigError(
            f"{source}: expected an age between 0 and {MAX_AGE:g} years, found {age!r}"
        )
    return value


def preprocess_scan(config: PreprocessConfig, scan: ScanInput) -> PreprocessedSubject:
    """The training preprocessing (``bundle.preprocess``) of one scan; any failure is an
    :class:`InputFileError` naming the image."""
    from brainuad.preprocessing import preprocess_subject

    mask = scan.mask if config.skull_strip == "mask" else None
    if config.skull_strip == "mask" and mask is None:
        raise InputFileError(
            scan.image,
            "this model was trained with skull_strip 'mask': give the scan's brain mask "
            "(--mask, or a manifest 'mask' column)",
        )
    try:
        return preprocess_subject(scan.image, mask_path=mask, config=config)
    except BrainUADError:
        raise
    except (RuntimeError, ValueError, MemoryError, EOFError) as exc:
        text = str(exc).strip().splitlines()
        raise InputFileError(
            scan.image, f"preprocessing failed: {text[0] if text else type(exc).__name__}"
        ) from exc


@torch.no_grad()
def _forward(
    bundle: Bundle,
    subjects: Sequence[PreprocessedSubject],
    ages: Sequence[float | None],
    names: Sequence[str],
) -> list[dict[str, object]]:
    """Scores (and residuals) of a batch; scans without an age that the model needs to
    reconstruct get what its encoder gives (L_KL, the predicted age)."""
    from brainuad.scoring import score_batch

    n = len(subjects)
    full = [i for i in range(n) if not bundle.uses_age_input or ages[i] is not None]
    out: list[dict[str, object]] = [{} for _ in range(n)]
    if full:
        vols = np.stack([subjects[i].volume for i in full])
        masks = np.stack([subjects[i].mask for i in full])
        age_arr = np.asarray([ages[i] for i in full], dtype=np.float64)
        batch = score_batch(
            bundle.model,
            vols,
            masks,
            age_arr if bundle.uses_age_input else None,
            device=bundle.device,
            keep_residuals=True,
        )
        bad = batch.nonfinite()
        if bad:
            raise CheckpointError(
                f"{bundle.root}: the model's scores of scan {names[full[bad[0]]]} "
                "are not finite (NaN or inf): the weights hold non-finite values or the scan is "
                "corrupt"
            )
        for j, i in enumerate(full):
            out[i] = {
                "rec": float(batch.rec[j]),
                "kl": float(batch.kl[j]),
                "age_pred": None if batch.age_pred is None else float(batch.age_pred[j]),
                "residual": batch.residual[j],  # type: ignore[index]
            }
    full_set = set(full)
    rest = [i for i in range(n) if i not in full_set]
    if rest:
        x = torch.from_numpy(np.stack([subjects[i].volume for i in rest]).astype(np.float32))
        part = bundle.model.eval().score(x[:, None].to(bundle.device), None)
        kl = part.kl.float().cpu().numpy()
        pred = None if part.age_pred is None else part.age_pred.float().cpu().numpy()
        for j, i in enumerate(rest):
            age_pred = None if pred is None else float(pred[j])
            out[i] = {"rec": None, "kl": float(kl[j]), "age_pred": age_pred, "residual": None}
    return out


def predict_preprocessed(
    bundle: Bundle, scans: Sequence[ScanInput], subjects: Sequence[PreprocessedSubject]
) -> list[ScanPrediction]:
    """Assess already preprocessed scans (one batch through the model)."""
    from brainuad.preprocessing import to_native_space
    from brainuad.scoring import anomaly_map

    start = time.perf_counter()
    raw = _forward(bundle, subjects, [s.age for s in scans], [s.subject_id for s in scans])
    cands = bundle.record.get("lesion_candidates")
    per_scan_model = (time.perf_counter() - start) / max(1, len(scans))
    results = []
    for scan, prep, r in zip(scans, subjects, raw, strict=True):
        t0 = time.perf_counter()
        model_map = native_map = None
        if r["residual"] is not None:
            model_map = anomaly_map(r["residual"], prep.mask, sigma=bundle.map_sigma)
            native_map = to_native_space(model_map, prep.geometry, order=1)
        seconds = {
            "preprocess": float(prep.qc.get("t_total", float("nan"))),
            "model": per_scan_model,
            "map": time.perf_counter() - t0,
        }
        pred = _assemble(bundle, scan, prep, r, model_map, native_map, seconds)
        found = find_candidates(cands, model_map, prep.mask, prep.geometry)
        results.append(replace(pred, lesions=found) if found is not None else pred)
    return results


def _assemble(
    bundle: Bundle,
    scan: ScanInput,
    prep: PreprocessedSubject,
    r: dict[str, object],
    model_map: np.ndarray | None,
    native_map: np.ndarray | None,
    seconds: dict[str, float],
) -> ScanPrediction:
    unavailable: dict[str, str] = {}
    age_pred = r["age_pred"]
    scores: dict[str, float | None] = {"rec": r["rec"], "kl": r["kl"], "age": None}  # type: ignore[dict-item]
    if r["rec"] is None:
        unavailable["rec"] = NO_AGE_INPUT
    if not bundle.has_age_head:
        unavailable["age"] = NO_AGE_HEAD
    elif scan.age is None:
        unavailable["age"] = "no chronological age given (L_age = |a_p - a_c| needs it)"
    else:
        scores["age"] = abs(float(age_pred) - scan.age)  # type: ignore[arg-type]
    missing = [s for s in bundle.weights.needs() if scores[s] is None]
    if missing:
        unavailable["combined"] = f"needs {', '.join(missing)} (non-zero weight), unavailable"
        scores["combined"] = None
    else:
        rec = 0.0 if scores["rec"] is None else scores["rec"]
        age = None if scores["age"] is None else [scores["age"]]
        scores["combined"] = float(bundle.weights.combine([rec], [scores["kl"]], age)[0])
    percentiles = {name: bundle.reference.percentile(name, scores[name]) for name in SCORE_NAMES}
    combined = scores["combined"]
    flags = {
        p.name: None if combined is None else p.flags(combined) for p in bundle.operating_points
    }
    gap = gap_bc = None
    if age_pred is not None and scan.age is not None:
        gap = float(age_pred) - scan.age  # type: ignore[arg-type]
        if bundle.bias_correction is not None:
            gap_bc = float(bundle.bias_correction.gap(float(age_pred), scan.age))  # type: ignore[arg-type]

    spacing = np.linalg.norm(prep.geometry.native_affine[:3, :3], axis=0)
    quality = check_quality(
        prep.qc,
        spacing,
        qc_reference=bundle.qc_reference,
        model_voxel_mm=bundle.preprocess.voxel_size,
    )
    warnings = list(quality.messages)
    if scan.age is None:
        lost = [_LABELS[k] for k in SCORE_NAMES if k in unavailable and k != "age"]
        lost += ["L_age", "the brain-age gap"] if bundle.has_age_head else []
        if lost:
            warnings.append(f"no chronological age given: {', '.join(lost)} unavailable")
        else:
            warnings.append("no chronological age given: the training age range was not checked")
    elif bundle.age_range is not None:
        lo, hi = bundle.age_range
        if not lo <= scan.age <= hi:
            warnings.append(
                f"age {scan.age:g} is outside the ages seen in training ({lo:g}-{hi:g} years): "
                "age-dependent results are extrapolated"
            )
    return ScanPrediction(
        subject_id=scan.subject_id,
        image=Path(scan.image),
        age=scan.age,
        scores=scores,
        percentiles=percentiles,
        unavailable=unavailable,
        flags=flags,
        age_pred=None if age_pred is None else float(age_pred),  # type: ignore[arg-type]
        brain_age_gap=gap,
        brain_age_gap_corrected=gap_bc,
        warnings=tuple(warnings),
        quality=quality,
        anomaly_map=native_map,
        native_affine=np.asarray(prep.geometry.native_affine, dtype=np.float64),
        model_map=model_map,
        seconds=seconds,
    )


def predict_scan(
    bundle: Bundle,
    image: str | Path,
    *,
    age: float | None = None,
    subject_id: str | None = None,
    mask: str | Path | None = None,
) -> ScanPrediction:
    """Preprocess and assess one scan in memory (see :func:`brainuad.bundle.predict_to_folder`
    to also write the outputs)."""
    scan = ScanInput(subject_id or scan_id(image), Path(image), validate_age(age, "age"), mask)
    return predict_preprocessed(bundle, [scan], [preprocess_scan(bundle.preprocess, scan)])[0]


def scan_id(image: str | Path) -> str:
    """The id of a scan given alone: its file name without ``.nii``/``.nii.gz``."""
    name = Path(image).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem
