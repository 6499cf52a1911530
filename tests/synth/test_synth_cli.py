"""``brainuad synth`` end to end at 3 mm, its one-line errors, and the PNG montage."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from brainuad.cli.main import main
from brainuad.errors import ConfigError
from brainuad.io.manifest import Subject, read_cohort
from brainuad.synth import SynthConfig, generate_cohort, save_preview
from brainuad.synth.preview import choose_subjects


def test_synth_command_writes_cohort_and_preview(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cohort"
    args = ["synth", str(out), "--n-normal", "2", "--n-anomalous", "1", "--seed", "5"]
    args += ["--voxel-size", "3", "--jobs", "1", "--preview", "--no-progress", "--skull-stripped"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 subjects (2 normal, 1 anomalous)" in printed and "s per subject" in printed
    assert f"preview: {out / 'preview.png'}" in printed
    cohort = read_cohort(out / "manifest.csv")
    assert [s.label for s in cohort] == [0, 0, 1]
    png = (out / "preview.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    # a second run into the same folder is refused with a one-line error
    assert main(args) == 2
    assert "pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--voxel-size", "0.5"], "voxel_size must be between 1 and 4 mm, found 0.5"),
        (["--normal-age", "45,17"], "--normal-age expects mean,sd,low,high"),
        (["--anomalous-age", "60,13,80,20"], "age range must satisfy"),
        (["--tumour-volume", "50"], "--tumour-volume expects low,high"),
        (["--jobs", "-2"], "--jobs must be >= 0"),
        (["--n-normal", "0", "--n-anomalous", "0"], "the cohort is empty"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    assert main(["synth", str(tmp_path / "c"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "c" / "manifest.csv").exists()


def test_help_describes_the_command(capsys: pytest.CaptureFixture) -> None:
    assert main(["synth", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--n-normal", "--n-anomalous", "--seed", "--skull-stripped", "--preview"):
        assert option in text


def _subjects(n_normal: int, n_anom: int) -> list[Subject]:
    out = [Subject(f"n{i}", Path(f"n{i}.nii.gz"), float(20 + 7 * i)) for i in range(n_normal)]
    out += [Subject(f"a{i}", Path(f"a{i}.nii.gz"), 60.0, label=1) for i in range(n_anom)]
    return out


def test_choice_mixes_labels_and_spreads_ages() -> None:
    chosen = choose_subjects(_subjects(10, 5), 6)
    assert [s.label for s in chosen] == [0, 0, 0, 0, 1, 1]
    ages = [s.age for s in chosen if s.label == 0]
    assert ages[0] == 20.0 and ages[-1] == 20.0 + 7 * 9
    assert len(choose_subjects(_subjects(0, 3), 6)) == 3
    assert [s.label for s in choose_subjects(_subjects(2, 5), 6)] == [0, 0, 1, 1, 1, 1]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prev")
    return generate_cohort(out, 2, 1, seed=2, config=SynthConfig(voxel_size=3.0), n_jobs=1)


def test_preview_shows_brains(manifest: Path, tmp_path: Path) -> None:
    png = save_preview(manifest, tmp_path / "p.png", n=3)
    img = mpimg.imread(png)
    assert img.shape[1] > img.shape[0] * 0.8  # 3 columns of 3 views
    gray = img[..., :3].mean(axis=-1)
    assert gray.std() > 0.1 and (gray > 0.5).mean() > 0.05
    # the lesion outline is drawn in red
    red = (img[..., 0] > 0.8) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)
    assert red.sum() > 20


def test_preview_rejects_bad_requests(manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="preview file name must end in .png"):
        save_preview(manifest, tmp_path / "p.jpg")
    with pytest.raises(ConfigError, match="preview needs at least 1 subject, found n=0"):
        save_preview(manifest, tmp_path / "p.png", n=0)
    assert not np.any([p.suffix == ".png" for p in tmp_path.iterdir()])
