"""The BIDS derivatives the BIDS App writes, and reading them back.

``OUTPUT_DIR/brainuad/`` is a BIDS derivative dataset::

    dataset_description.json       DatasetType "derivative", GeneratedBy brainuad + the model
    sub-<label>/[ses-<label>/]anat/
        <source entities>_desc-anomaly_map.nii.gz   anomaly map on the T1w scan's own grid
        <source entities>_desc-anomaly_map.json     sidecar: Description, Sources, and every
                                                    score of brainuad predict's record
                                                    (schema brainuad-prediction/1)
    sub-<label>/figures/<source entities>_desc-anomaly_overview.png
    sub-<label>/log/status.json    the participant's last run: each scan ok or failed (+ error)
    group_scores.tsv, group_scores.json, group_report.html   written by the group level

``<source entities>`` is the T1w file name without ``_T1w.nii[.gz]`` (``sub-01_ses-1_run-1``).
The sidecar is written last: a scan is done when its sidecar exists and names the model's
weights. Without an age, a VAE-a_c bundle cannot reconstruct and writes no map; the sidecar
then says why.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brainuad import __version__
from brainuad.bids.dataset import BidsDataset, BidsScan
from brainuad.errors import ConfigError
from brainuad.io.atomic import write_bytes_atomic, write_json_atomic

PIPELINE_NAME = "brainuad"
BIDS_VERSION = "1.9.0"
MAP_DESCRIPTION = (
    "Voxel-wise anomaly map of brainuad: |x - x~| (scan minus VAE reconstruction) inside the "
    "brain mask, Gaussian-smoothed in model space and resampled onto this T1w scan's grid; "
    "arbitrary units, higher is more anomalous"
)


def derivatives_root(output_dir: str | Path) -> Path:
    """``OUTPUT_DIR/brainuad``."""
    return Path(output_dir) / PIPELINE_NAME


def scan_paths(root: Path, scan: BidsScan) -> dict[str, Path]:
    """Where one scan's map, sidecar and overview figure go."""
    anat = root / scan.participant / (scan.session or "") / "anat"
    base = f"{scan.scan_id}_desc-anomaly"
    return {
        "anomaly_map": anat / f"{base}_map.nii.gz",
        "json": anat / f"{base}_map.json",
        "overview": root / scan.participant / "figures" / f"{base}_overview.png",
    }


def status_path(root: Path, participant: str) -> Path:
    """``sub-<label>/log/status.json``."""
    return root / participant / "log" / "status.json"


def model_info(bundle: Any) -> dict[str, Any]:
    """What identifies the model of a run (recorded in ``dataset_description.json``)."""
    return {
        "method": bundle.method,
        "weights_sha256": bundle.record["weights"]["sha256"],
        "bundle": str(Path(bundle.root).resolve()),
    }


def write_description(root: Path, bids_dir: Path, model: dict[str, Any]) -> Path:
    """Write ``dataset_description.json``; refuse a folder made with another model."""
    path = root / "dataset_description.json"
    description = {
        "Name": "brainuad anomaly and brain-age screening",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": PIPELINE_NAME,
                "Version": __version__,
                "Description": "Unsupervised anomaly detection in T1-weighted brain MRI with a "
                f"3D VAE ({model['method']}) and brain-age prediction (Bengs, Behrendt et al., "
                "SPIE Medical Imaging 2022)",
            }
        ],
        "DatasetLinks": {"raw": Path(bids_dir).resolve().as_uri()},
        "BrainuadModel": model,
    }
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        sha = old.get("BrainuadModel", {}).get("weights_sha256")
        if sha and sha != model["weights_sha256"]:
            raise ConfigError(
                f"{path}: these derivatives were made with another model (weights SHA-256 "
                f"{sha[:12]}..., this bundle {model['weights_sha256'][:12]}...); use another "
                "OUTPUT_DIR"
            )
        if old == json.loads(json.dumps(description)):
            return path  # concurrent array tasks: do not rewrite the same file
    write_json_atomic(path, description)
    return path


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """A scan's sidecar record, or None when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_done(root: Path, scan: BidsScan, weights_sha256: str) -> bool:
    """True when the scan's outputs of this model are all there."""
    paths = scan_paths(root, scan)
    record = read_sidecar(paths["json"])
    if record is None or record.get("model", {}).get("weights_sha256") != weights_sha256:
        return False
    return record.get("anomaly_map") is None or paths["anomaly_map"].is_file()


def make_writer(dataset: BidsDataset) -> Callable[[Path, Any, Any], dict[str, Path]]:
    """A ``writer`` for :func:`brainuad.bundle.predict_to_folder` laying out BIDS derivatives
    (its ``out_dir`` is ``OUTPUT_DIR/brainuad``)."""
    by_id = {s.scan_id: s for s in dataset.scans}

    def write(root: Path, pred: Any, bundle: Any) -> dict[str, Path]:
        from brainuad.bundle.outputs import overview_png, prediction_record
        from brainuad.io.nifti import save_volume

        scan = by_id[pred.subject_id]
        files = scan_paths(root, scan)
        png = overview_png(pred)
        written: list[Path] = []
        try:
            if pred.anomaly_map is not None:
                save_volume(
                    files["anomaly_map"], pred.anomaly_map.astype("float32"), pred.native_affine
                )
                written.append(files["anomaly_map"])
            else:  # a map of an earlier run would contradict this one
                with contextlib.suppress(FileNotFoundError):
                    files["anomaly_map"].unlink()
                del files["anomaly_map"]
            write_bytes_atomic(files["overview"], png)
            written.append(files["overview"])
            record = prediction_record(pred, bundle, files)
            record["files"] = {k: p.relative_to(root).as_posix() for k, p in files.items()}
            sidecar = {
                "Description": MAP_DESCRIPTION,
                "Sources": [f"bids:raw:{scan.relpath}"],
                **record,
            }
            write_json_atomic(files["json"], sidecar)
        except BaseException:
            for p in written:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            raise
        return files

    return write


def write_status(
    root: Path, participant: str, scans: dict[str, dict[str, str]], model: dict[str, Any]
) -> Path:
    """``sub-<label>/log/status.json``: each scan's outcome of the participant's last run."""
    failed = any(v["status"] == "failed" for v in scans.values()) or not scans
    path = status_path(root, participant)
    write_json_atomic(
        path,
        {
            "participant_id": participant,
            "status": "failed" if failed else "ok",
            "scans": scans,
            "model_weights_sha256": model["weights_sha256"],
            "brainuad": __version__,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    return path


def read_status(root: Path, participant: str) -> dict[str, Any] | None:
    """The participant's ``status.json``, or None."""
    return read_sidecar(status_path(root, participant))
