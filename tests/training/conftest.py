"""Fixtures for the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_synth import make_cache


@pytest.fixture
def tiny_cache(tmp_path: Path):
    return make_cache(tmp_path / "cache")


@pytest.fixture(autouse=True)
def _few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
