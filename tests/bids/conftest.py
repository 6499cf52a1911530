"""Fixtures of the BIDS App tests: a small BIDS dataset of phantom heads and a model bundle."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bundle"))

from bundle_helpers import handmade_bundle, lesion_for, make_head, save_nifti  # noqa: E402

from brainuad.bundle import CombinedWeights  # noqa: E402

# participant -> (session or None, age as written in participants.tsv, phantom seed, tumour)
PARTICIPANTS = {
    "sub-01": (None, "45", 1, False),
    "sub-02": ("ses-1", "60", 2, True),
    "sub-03": (None, "n/a", 3, False),
}


def write_bids(root: Path, participants: dict = PARTICIPANTS) -> Path:
    """A BIDS dataset: dataset_description.json, participants.tsv, one T1w per participant."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "phantoms", "BIDSVersion": "1.9.0"})
    )
    rows = ["participant_id\tage"]
    for pid, (session, age, seed, tumour) in participants.items():
        anat = root / pid / (session or "") / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        data, affine, _ = make_head(seed, lesion=lesion_for(seed) if tumour else None)
        name = f"{pid}_{session}_T1w.nii.gz" if session else f"{pid}_T1w.nii.gz"
        save_nifti(anat / name, data, affine)
        (anat / name.replace(".nii.gz", ".json")).write_text("{}")
        rows.append(f"{pid}\t{age}")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="session")
def model_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) VAE-a_p bundle on the fast phantom preprocessing; read-only."""
    out = tmp_path_factory.mktemp("bids-model") / "model"
    return handmade_bundle(out, "vae-ap", weights=CombinedWeights(1.0, 0.5, 0.2))


@pytest.fixture()
def bids_dir(tmp_path: Path) -> Path:
    return write_bids(tmp_path / "bids")
