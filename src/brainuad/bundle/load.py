"""Loading a model bundle: verified, pickle-free, on CPU or GPU, without the training data.

:func:`load_bundle` checks, in order: ``bundle.json`` (format name and version), the SHA-256 of
``weights.safetensors`` and ``reference.csv`` against the record, the model configuration, and
that this brainuad runs the same preprocessing pipeline version the model was trained with.
Every problem raises :class:`~brainuad.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from brainuad.bundle.format import (
    BUNDLE_JSON,
    DEFAULT_MAP_SIGMA,
    REFERENCE_FILE,
    WEIGHTS_FILE,
    read_bundle_json,
    read_weights,
    verify_file,
)
from brainuad.bundle.reference import CombinedWeights, OperatingPoint, Reference
from brainuad.errors import CheckpointError, ConfigError
from brainuad.evaluation.brainage import BiasCorrection
from brainuad.models import VAE, ModelConfig
from brainuad.preprocessing.config import PreprocessConfig


@dataclass(frozen=True, eq=False)
class Bundle:
    """A loaded model bundle: the model (eval mode) and everything needed to interpret it."""

    root: Path
    record: dict[str, Any]
    model: VAE
    model_config: ModelConfig
    preprocess: PreprocessConfig
    weights: CombinedWeights
    operating_points: tuple[OperatingPoint, ...]
    reference: Reference
    age_range: tuple[float, float] | None
    qc_reference: dict[str, dict[str, float]]
    map_sigma: float
    device: torch.device
    bias_correction: BiasCorrection | None = None

    @property
    def method(self) -> str:
        """The study method the bundle was exported from (an id of :mod:`brainuad.methods`)."""
        return str(self.record.get("method", self.model_config.kind))

    @property
    def uses_age_input(self) -> bool:
        """True when reconstructing a scan needs its chronological age (latent scaled by it)."""
        return self.model_config.uses_age_input

    @property
    def has_age_head(self) -> bool:
        """True when the model predicts the brain age."""
        return self.model_config.has_age_head


def preprocess_config_from_settings(
    settings: Mapping[str, Any], source: str | Path
) -> PreprocessConfig:
    """Rebuild the training :class:`PreprocessConfig` from recorded cache settings.

    Raises :class:`CheckpointError` when the settings come from another preprocessing pipeline
    version or are not understood by this brainuad.
    """
    from brainuad.preprocessing.pipeline import PIPELINE_VERSION, cache_settings

    found = settings.get("pipeline_version")
    if found != PIPELINE_VERSION:
        raise CheckpointError(
            f"{source}: the model was trained on preprocessing pipeline version {found}, this "
            f"brainuad runs version {PIPELINE_VERSION}: its scores would not match training"
        )
    values = {k: v for k, v in settings.items() if k != "pipeline_version"}
    try:
        config = PreprocessConfig.from_mapping(values)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: preprocessing settings not usable ({exc})") from exc
    rebuilt = cache_settings(config)
    differing = sorted(k for k in settings if rebuilt.get(k) != settings[k])
    if differing:
        raise CheckpointError(
            f"{source}: preprocessing settings {', '.join(differing)} do not round-trip in this "
            "brainuad"
        )
    return config


def load_bundle(path: str | Path, device: str | torch.device = "auto") -> Bundle:
    """Load and verify a model bundle folder (module docstring); the model is in eval mode."""
    from brainuad.models import build_model
    from brainuad.scoring import resolve_device
    from brainuad.training.checkpoint import restore_model

    dev = resolve_device(str(device)) if not isinstance(device, torch.device) else device
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {str(device)!r}: no CUDA GPU is available (use cpu or auto)")
    root = Path(path)
    record = read_bundle_json(root)
    json_path = root / BUNDLE_JSON
    try:
        weights_sha = str(record["weights"]["sha256"])
        reference_sha = str(record["reference"]["sha256"])
        model_cfg = ModelConfig.from_dict(record["model"])
        weights = CombinedWeights.from_dict(record["combined_weights"])
        points = tuple(
            OperatingPoint.from_dict(name, d) for name, d in record["operating_points"].items()
        )
        settings = dict(record["preprocessing"]["settings"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{json_path}: incomplete bundle record ({exc!r})") from exc
    preprocess = preprocess_config_from_settings(settings, json_path)
    tensors = read_weights(root / WEIGHTS_FILE, weights_sha)
    reference = _read_reference(root / REFERENCE_FILE, reference_sha)

    model = build_model(model_cfg, seed=0)
    restore_model(model, tensors, root / WEIGHTS_FILE)
    model.to(dev).eval()
    age = (record.get("training") or {}).get("age_range")
    correction = None
    bc = (record.get("brain_age") or {}).get("bias_correction")
    if bc is not None:
        try:
            correction = BiasCorrection.from_dict(bc)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{json_path}: unreadable brain-age bias correction") from exc
    return Bundle(
        root=root,
        record=record,
        model=model,
        model_config=model_cfg,
        preprocess=preprocess,
        weights=weights,
        operating_points=points,
        reference=reference,
        age_range=None if not age else (float(age["min"]), float(age["max"])),
        qc_reference=dict(record.get("qc_reference") or {}),
        map_sigma=float(record.get("map_sigma", DEFAULT_MAP_SIGMA)),
        device=dev,
        bias_correction=correction,
    )


def _read_reference(path: Path, expected_sha256: str) -> Reference:
    verify_file(path, expected_sha256, "reference table", "the reference table was modified")
    try:
        table = pd.read_csv(io.BytesIO(path.read_bytes()), dtype={"subject_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable reference table ({exc})") from exc
    missing = [c for c in ("rec", "kl", "combined") if c not in table]
    if missing or table.empty:
        raise CheckpointError(
            f"{path}: expected healthy reference scores with columns rec, kl, combined, found "
            f"{len(table)} rows with columns {', '.join(map(str, table.columns))}"
        )
    return Reference.from_table(table)
