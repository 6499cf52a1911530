"""Fixtures of the bundle/predict tests: one tiny trained study shared by the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bundle_helpers import run_tiny_study


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results folder of a tiny `brainuad run` (VAE-a_p on phantoms, 15 epochs): read-only."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_tiny_study(tmp_path_factory.mktemp("bundle-study"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def bundle_dir(study: Path) -> Path:
    """The bundle the runner exported for its best method (``RESULTS/model``): read-only."""
    return study / "model"


@pytest.fixture(scope="session")
def cohort_dir(study: Path) -> Path:
    """The phantom cohort of :func:`study` (NIfTIs, lesion masks, manifest.csv)."""
    return study.parent / "cohort"
