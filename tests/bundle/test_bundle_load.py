"""Loading bundles: verified hashes and versions, no unpickling, CPU or GPU."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from brainuad.bundle import load_bundle
from brainuad.bundle.format import RECORD_HASH_KEY, record_digest, seal_record
from brainuad.errors import CheckpointError, ConfigError


@pytest.fixture()
def bundle_copy(bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle_dir, tmp_path / "model"))


def _edit_record(root: Path, **changes: object) -> None:
    """Change top-level fields and re-seal (a consistent record of another kind of bundle)."""
    path = root / "bundle.json"
    record = json.loads(path.read_text())
    record.update(changes)
    _write_sealed(root, record)


def _write_sealed(root: Path, record: dict) -> None:
    (root / "bundle.json").write_text(json.dumps(seal_record(record)))


def test_bundle_loads_without_unpickling(bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    bundle = load_bundle(bundle_dir, device="cpu")
    assert not bundle.model.training
    assert bundle.method == "vae-ap" and bundle.has_age_head and not bundle.uses_age_input
    assert bundle.preprocess.skull_strip == "none"
    assert next(bundle.model.parameters()).device.type == "cpu"
    assert len(bundle.reference) == 8
    assert bundle.age_range is not None and bundle.age_range[0] < bundle.age_range[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bundle_loads_on_gpu(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir, device="cuda")
    assert next(bundle.model.parameters()).device.type == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_bundle_asking_for_a_missing_gpu_is_a_clear_error(bundle_dir: Path) -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        load_bundle(bundle_dir, device="cuda")


def test_bundle_tampered_weights_are_refused(bundle_copy: Path) -> None:
    weights = bundle_copy / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"weights\.safetensors: SHA-256 .* does not match"):
        load_bundle(bundle_copy, device="cpu")


def test_bundle_tampered_reference_is_refused(bundle_copy: Path) -> None:
    ref = bundle_copy / "reference.csv"
    ref.write_text(ref.read_text().replace("norm", "NORM"))
    with pytest.raises(CheckpointError, match=r"reference\.csv: SHA-256 .* was modified"):
        load_bundle(bundle_copy, device="cpu")


def test_bundle_from_another_format_version_is_refused(bundle_copy: Path) -> None:
    # a bundle of the previous release (format 1: age head scaled by 100 years) or a future one
    for version in (1, 3):
        _edit_record(bundle_copy, format_version=version)
        with pytest.raises(
            CheckpointError,
            match=rf"bundle\.json: bundle format version {version} .* reads version 2: re-export",
        ):
            load_bundle(bundle_copy, device="cpu")
    _edit_record(bundle_copy, format_version=2, format="something-else")
    with pytest.raises(CheckpointError, match="expected format 'brainuad-bundle'"):
        load_bundle(bundle_copy, device="cpu")


def test_bundle_from_another_preprocessing_pipeline_is_refused(bundle_copy: Path) -> None:
    record = json.loads((bundle_copy / "bundle.json").read_text())
    record["preprocessing"]["settings"]["pipeline_version"] = 99
    _write_sealed(bundle_copy, record)
    with pytest.raises(CheckpointError, match="pipeline version 99"):
        load_bundle(bundle_copy, device="cpu")


def test_bundle_missing_or_foreign_folders(tmp_path: Path, bundle_copy: Path) -> None:
    with pytest.raises(CheckpointError, match="model bundle not found"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="bundle.json not found"):
        load_bundle(tmp_path)
    (bundle_copy / "weights.safetensors").unlink()
    with pytest.raises(CheckpointError, match="weights file missing"):
        load_bundle(bundle_copy)


def test_bundle_weights_not_matching_the_model_config(bundle_copy: Path) -> None:
    record = json.loads((bundle_copy / "bundle.json").read_text())
    record["model"]["n_z"] = 32
    _write_sealed(bundle_copy, record)
    with pytest.raises(CheckpointError, match="do not match the model|has shape"):
        load_bundle(bundle_copy, device="cpu")


def test_bundle_hand_edited_threshold_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "bundle.json"
    record = json.loads(path.read_text())
    point = next(iter(record["operating_points"].values()))
    point["threshold"] = 1e12  # a tampered bundle that would never flag
    path.write_text(json.dumps(record, indent=2))
    with pytest.raises(CheckpointError, match=r"bundle\.json: content SHA-256 .* was edited"):
        load_bundle(bundle_copy, device="cpu")


def test_bundle_record_without_content_hash_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "bundle.json"
    record = json.loads(path.read_text())
    del record[RECORD_HASH_KEY]
    path.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"no record_sha256 content hash.*re-export"):
        load_bundle(bundle_copy, device="cpu")


def test_bundle_content_hash_covers_fields_added_later(bundle_copy: Path) -> None:
    record = json.loads((bundle_copy / "bundle.json").read_text())
    assert record[RECORD_HASH_KEY] == record_digest(record)
    record["thresholds_of_a_later_release"] = {"spec95": 1.5}
    _write_sealed(bundle_copy, record)
    assert load_bundle(bundle_copy, device="cpu").record["thresholds_of_a_later_release"]
    record["thresholds_of_a_later_release"] = {"spec95": 2.5}  # edited, not re-sealed
    sealed = json.loads((bundle_copy / "bundle.json").read_text())[RECORD_HASH_KEY]
    (bundle_copy / "bundle.json").write_text(json.dumps({**record, RECORD_HASH_KEY: sealed}))
    with pytest.raises(CheckpointError, match="content SHA-256"):
        load_bundle(bundle_copy, device="cpu")
