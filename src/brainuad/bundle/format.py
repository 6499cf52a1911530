"""The model bundle on disk: file names, format version, hashing, safe weight files.

A bundle is a folder of plain files::

    bundle.json          format + version, brainuad and library versions, method, model and
                         training configs, preprocessing settings + fingerprint, combined
                         weights, operating points, training age range, QC reference, summary
                         of the reference distributions, SHA-256 of the two files below
    weights.safetensors  the model's parameters and buffers (``model.<name>``), safetensors only
    reference.csv        scores of the healthy validation subjects (percentiles)

Nothing in a bundle is ever unpickled; ``bundle.json`` is verified against its own content hash
(a hand-edited threshold is refused, as is a record without the hash) and the weights file
against its SHA-256 before it is read; the bundle's format version must be one this brainuad
reads (:data:`BUNDLE_FORMAT_VERSION`); a bundle written by another brainuad release with the same
format version loads unchanged. Version 2 (this release): the age head predicts
``age_mean + age_sd * head(features)`` with the training ages' statistics in the model config,
and ``bundle.json`` carries the brain-age bias correction; version-1 bundles (age head scaled by
100 years) are refused with a message to re-export them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from brainuad.errors import CheckpointError
from brainuad.io.atomic import atomic_path, json_default
from brainuad.training.checkpoint import read_safetensors

BUNDLE_FORMAT = "brainuad-bundle"
BUNDLE_FORMAT_VERSION = 2
BUNDLE_JSON = "bundle.json"
WEIGHTS_FILE = "weights.safetensors"
REFERENCE_FILE = "reference.csv"
WEIGHTS_FORMAT = "brainuad-bundle-weights"
#: key of ``bundle.json`` holding the SHA-256 of the rest of the record (:func:`record_digest`)
RECORD_HASH_KEY = "record_sha256"
#: Gaussian sigma (model-space voxels) of the anomaly maps, as ``brainuad score --maps``
DEFAULT_MAP_SIGMA = 1.0


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record_digest(record: Mapping[str, Any]) -> str:
    """SHA-256 of a JSON record's canonical content (sorted keys, no spaces), without
    :data:`RECORD_HASH_KEY`: generic over the fields, so a field added later is covered too."""
    content = {k: v for k, v in record.items() if k != RECORD_HASH_KEY}
    # round trip first: the digest of what is written equals the digest of what is read back
    plain = json.loads(json.dumps(content, default=json_default))
    canon = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canon.encode("ascii")).hexdigest()


def seal_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` plus its :data:`RECORD_HASH_KEY` (to be written as ``bundle.json``)."""
    return {**record, RECORD_HASH_KEY: record_digest(record)}


def save_weights(path: str | Path, model_tensors: dict[str, torch.Tensor], kind: str) -> None:
    """Write ``{"model.<name>": tensor}`` to a safetensors file (atomically)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model_tensors.items()}
    bad = [k for k in tensors if not k.startswith("model.")]
    if bad:
        raise ValueError(f"save_weights: tensor names must start with 'model.', found {bad[:3]}")
    # one metadata key: safetensors writes several in random order (bytes not reproducible)
    info = {"format": WEIGHTS_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, "kind": kind}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"brainuad": json.dumps(info, sort_keys=True)})


def verify_file(path: Path, expected_sha256: str, what: str, changed: str) -> None:
    """Raise :class:`CheckpointError` if a bundle file is missing or its SHA-256 differs."""
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} missing from the model bundle")
    digest = sha256_file(path)
    if digest != expected_sha256:
        raise CheckpointError(
            f"{path}: SHA-256 {digest[:16]}... does not match the {expected_sha256[:16]}... "
            f"recorded in {BUNDLE_JSON}: {changed} (re-export the bundle)"
        )


def read_weights(path: str | Path, expected_sha256: str) -> dict[str, torch.Tensor]:
    """Verify the SHA-256 of a bundle's weights file, then read it with safetensors (CPU)."""
    path = Path(path)
    verify_file(path, expected_sha256, "weights file", "the weights were modified or corrupted")
    tensors, meta = read_safetensors(path)
    try:
        found = json.loads(meta.get("brainuad", "{}")).get("format")
    except (json.JSONDecodeError, AttributeError):
        found = None
    if found != WEIGHTS_FORMAT:
        raise CheckpointError(
            f"{path}: expected weights of format {WEIGHTS_FORMAT!r}, found {found!r}"
        )
    return tensors


def read_bundle_json(root: str | Path) -> dict[str, Any]:
    """Read and check ``bundle.json`` (format name and version); :class:`CheckpointError` if bad."""
    root = Path(root)
    path = root / BUNDLE_JSON
    if not root.exists():
        raise CheckpointError(f"{root}: model bundle not found")
    if not path.is_file():
        raise CheckpointError(
            f"{root}: not a model bundle ({BUNDLE_JSON} not found; create one with "
            "`brainuad export RESULTS_DIR --out MODEL_DIR`)"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable bundle record ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != BUNDLE_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise CheckpointError(f"{path}: expected format {BUNDLE_FORMAT!r}, found {found!r}")
    version = record.get("format_version")
    if version != BUNDLE_FORMAT_VERSION:
        made_by = record.get("versions", {}).get("brainuad", "an unknown brainuad")
        raise CheckpointError(
            f"{path}: bundle format version {version} (written by brainuad {made_by}) is not "
            f"supported; this brainuad reads version {BUNDLE_FORMAT_VERSION}: re-export the "
            "bundle with this release (`brainuad export RESULTS_DIR --out MODEL_DIR`)"
        )
    recorded = record.get(RECORD_HASH_KEY)
    if not isinstance(recorded, str):
        raise CheckpointError(
            f"{path}: no {RECORD_HASH_KEY} content hash (written by an earlier brainuad or "
            "edited): re-export the bundle (`brainuad export RESULTS_DIR --out MODEL_DIR`)"
        )
    digest = record_digest(record)
    if digest != recorded:
        raise CheckpointError(
            f"{path}: content SHA-256 {digest[:16]}... does not match the recorded "
            f"{recorded[:16]}...: the bundle record was edited or corrupted (re-export the bundle)"
        )
    return record
