"""The bad-input corpus: every command refuses hostile input the same way.

Each case (``bad_input_cases*.py``) builds its bad input from tiny synthetic data; the test
runs the CLI in-process and checks the promise of the README: exit status 2, exactly one
``error:`` line on stderr that names the offending path, no traceback, and nothing created,
changed or removed anywhere in the workspace (a snapshot of every file's bytes before and
after). The shared artefacts (cohort, cache, one-epoch run, scores, bundle) are built once.
"""

from __future__ import annotations

import re
from pathlib import Path

import bad_input_cases_models  # noqa: F401  (registers its cases)
import pytest
import torch
from bad_input_cases import CASES
from bad_input_helpers import build_artefacts, snapshot

from brainuad.cli.main import main


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return build_artefacts(tmp_path_factory.mktemp("corpus"))
    finally:
        torch.set_num_threads(threads)


# --- the checks ---------------------------------------------------------------------------


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    commands = {name.split(":")[0].split()[0] for name in CASES}
    assert commands >= {
        "validate",
        "split",
        "preprocess",
        "train",
        "score",
        "evaluate",
        "report",
        "export",
        "predict",
        "run",
        "cohort",
        "bids",
        "synth",
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_cleanly(
    name: str, ws: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, named, message = CASES[name](ws, tmp_path)
    shared = [ws["bundle"].parent]
    before = snapshot(tmp_path, *shared)
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, f"{name}: exit {status}\n{err}"
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert str(named) in err, f"{name}: {named} not named in\n{err}"
    assert re.search(message, err, re.S), f"{name}: {message!r} not in\n{err}"
    assert snapshot(tmp_path, *shared) == before, f"{name}: the workspace changed"
