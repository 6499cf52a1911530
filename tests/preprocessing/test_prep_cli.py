"""``brainuad preprocess``: exit codes, summary, options and error messages."""

from __future__ import annotations

import pytest
from prep_phantoms import write_cohort
from typer.testing import CliRunner

from brainuad.cli.main import app, main
from brainuad.io.cache import open_cache


def _exit_code(args: list[str]) -> tuple[int, str]:
    """Run the Typer app the way the console script does (standalone: exit codes kept)."""
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


SMALL_YAML = (
    "skull_strip: none\nregister: false\ncrop_shape: [40, 48, 42]\n"
    "target_shape: [16, 19, 17]\nvoxel_size: 4.0\n"
)


@pytest.fixture()
def setup(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    manifest = write_cohort(folder, 2, bad=True)
    config = tmp_path / "prep.yaml"
    config.write_text(SMALL_YAML, encoding="utf-8")
    return manifest, config, tmp_path / "cache"


def test_cli_writes_the_cache_and_reports_failures(setup, capsys) -> None:
    manifest, config, out = setup
    args = ["preprocess", str(manifest), "--out", str(out), "--config", str(config), "-j", "1"]
    assert main(args + ["--no-n4", "--qc", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "2/3 subjects" in text and "FAILED broken" in text and "QC montage:" in text
    cache = open_cache(out)
    assert len(cache) == 2 and cache.settings["n4"] is False
    code, text = _exit_code(args + ["--no-n4", "--strict", "--no-progress"])
    assert code == 1
    assert "2 reused" in text and "1 subject(s) failed (--strict)" in text
    assert _exit_code(args + ["--no-n4", "--no-progress"])[0] == 0


def test_cli_errors(setup, tmp_path, capsys) -> None:
    manifest, config, out = setup
    bad = tmp_path / "bad.yaml"
    bad.write_text("crop_shap: [1, 2, 3]\n", encoding="utf-8")
    assert main(["preprocess", str(manifest), "--out", str(out), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml: unknown preprocessing setting(s) crop_shap" in err
    code = main(["preprocess", str(manifest), "-o", str(out), "--skull-strip", "brainy"])
    assert code == 2
    assert (
        "skull_strip must be one of auto, deepbet, mask, none, found 'brainy'"
        in capsys.readouterr().err
    )
    assert main(["preprocess", str(tmp_path / "nope.csv"), "-o", str(out)]) == 2
    assert "nope.csv: manifest not found" in capsys.readouterr().err


def test_cli_exit_1_when_nothing_succeeds(tmp_path) -> None:
    (tmp_path / "x.nii.gz").write_bytes(b"junk")
    manifest = tmp_path / "m.csv"
    manifest.write_text("subject_id,image,age\nx,x.nii.gz,40\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(SMALL_YAML, encoding="utf-8")
    code, text = _exit_code(
        ["preprocess", str(manifest), "-o", str(tmp_path / "c"), "-c", str(config)]
    )
    assert code == 1
    assert "no subject could be preprocessed" in text


def test_cli_help_lists_the_steps(capsys) -> None:
    assert main(["preprocess", "--help"]) == 0
    text = capsys.readouterr().out
    assert "skull stripping" in text and "--jobs" in text and "64x77x66" in text
