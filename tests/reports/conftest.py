"""Fixtures of the report tests: fake results folders, the written report, a headless chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from report_fixtures import make_results

from brainuad.reports import write_report

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OPTIONAL = ("examples", "runs", "run_state.json", "splits.csv", "config.yaml")


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete fake results folder with three methods (read-only: copy before changing)."""
    return make_results(tmp_path_factory.mktemp("study") / "RESULTS")


@pytest.fixture(scope="session")
def report_html(results_dir: Path) -> Path:
    """The report of :func:`results_dir`, written once to ``RESULTS/report``."""
    return write_report(results_dir)


@pytest.fixture()
def minimal_results(tmp_path: Path) -> Path:
    """Two methods (no age head, age head) and only the required artefacts."""
    root = make_results(tmp_path / "MIN", methods=("vae", "vae-ap"))
    for name in OPTIONAL:
        path = root / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return root


def _find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable chromium; installed with apt-get (as root) when missing.

    Skips with the reason when it is missing and cannot be installed (not root, no apt-get,
    no network, BRAINUAD_TEST_NO_APT=1, or the install takes over 10 minutes).
    """
    exe = _find_chromium()
    if exe:
        return exe
    if os.environ.get("BRAINUAD_TEST_NO_APT"):
        pytest.skip("chromium not installed (BRAINUAD_TEST_NO_APT set)")
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium not installed and cannot be installed (needs root and apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
            subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"chromium not installed and apt-get failed: {str(exc)[:200]}")
    exe = _find_chromium()
    if not exe:
        pytest.skip("chromium still not found after apt-get install")
    return exe
