"""From fake IXI + BraTS downloads to the report: cohort commands, two-manifest study config,
``skull_strip: auto`` (heads -> deepbet, BraTS -> mask from the image) and the report's warning.

deepbet is replaced by a threshold stand-in so that the study stays within seconds (the real
network runs in the slow preprocessing tests); everything else is the real pipeline.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cohort_fakes import write_brats2020, write_ixi, write_ixi_xls

from brainuad.cli.main import main
from brainuad.experiment.config import load_study_config
from brainuad.experiment.runner import run_study
from brainuad.io.cache import open_cache
from brainuad.preprocessing import load_lesions, skullstrip
from brainuad.preprocessing.steps import fill_holes, largest_component

TINY = {
    "skull_strip": "auto",
    "register": False,
    "n4": False,
    "denoise": False,
    "voxel_size": 4.0,
    "crop_shape": [40, 48, 40],
    "target_shape": [16, 19, 16],
}
SITES = ("Guys", "HH", "IOP")


def _fake_deepbet(data: np.ndarray, **_: object) -> np.ndarray:
    """Stand-in for the CNN on the fake heads: the brain is the largest bright component."""
    return fill_holes(largest_component(data > 0.3 * np.percentile(data, 99)))


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("real")
    rng = np.random.default_rng(0)
    numbers = list(range(2, 16))
    t1 = write_ixi(root / "IXI-T1", [(n, SITES[n % 3]) for n in numbers])
    ages = [(n, round(float(rng.uniform(20, 86)), 2)) for n in numbers[:-1]]  # last: no row
    write_ixi_xls(root / "IXI.xls", [*ages, (numbers[0], ages[0][1])])  # one duplicate row
    brats_ages = {n: f"{rng.uniform(40, 80):.3f}" for n in range(1, 10)}
    brats = write_brats2020(root / "brats", list(range(1, 11)), brats_ages)  # 10: no age
    assert (
        main(["cohort", "ixi", str(t1), "-d", str(root / "IXI.xls"), "-o", str(root / "ixi.csv")])
        == 0
    )
    assert main(["cohort", "brats", str(brats), "-o", str(root / "brats.csv")]) == 0
    config = root / "study.yaml"
    config.write_text(
        "cohort: [ixi.csv, brats.csv]\noutput: results\npreset: tiny\nepochs: 2\njobs: 1\n"
        "methods: [vae, vae-ap]\n"
        f"preprocess: {json.dumps(TINY)}\n"
        "split: {healthy: [0.5, 0.25, 0.25], anomalous: [0.5, 0.5]}\n"
        "evaluation: {n_resamples: 200}\n",
        encoding="utf-8",
    )
    patch = pytest.MonkeyPatch()
    patch.setattr(skullstrip, "deepbet_mask", _fake_deepbet)
    logs: list[str] = []
    try:
        result = run_study(load_study_config(config), progress=False, log=logs.append)
    finally:
        patch.undo()
    return root, result, logs


def test_cohort_files(study) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = study
    assert (root / "ixi_exclusions.csv").read_text().count("excluded") == 1  # IXI015: no row
    assert "BraTS20_Training_010" in (root / "brats_exclusions.csv").read_text()


def test_each_group_took_its_path(study) -> None:  # type: ignore[no-untyped-def]
    root, _, logs = study
    cache = open_cache(root / "results" / "cache")
    table = cache.subjects.set_index("subject_id")
    assert len(table) == 13 + 9
    ixi = table[table.index.str.startswith("IXI")]
    brats = table[table.index.str.startswith("BraTS")]
    assert set(ixi["skull_strip_path"]) == {"deepbet"} and set(brats["skull_strip_path"]) == {
        "none"
    }
    assert not ixi["input_skull_stripped"].any() and brats["input_skull_stripped"].all()
    assert set(ixi["label"]) == {0} and set(brats["label"]) == {1}
    lesions = np.asarray(load_lesions(cache))
    rows = np.flatnonzero(cache.subjects["label"].to_numpy() == 1)
    assert (
        all(lesions[i].any() for i in rows)
        and not lesions[np.flatnonzero(table["label"] == 0)].any()
    )
    assert any("WARNING: healthy and anomalous scans took different" in line for line in logs)


def test_report_warns_first(study) -> None:  # type: ignore[no-untyped-def]
    root, result, _ = study
    assert result.report_path is not None and (root / "results" / "metrics.json").is_file()
    html = result.report_path.read_text(encoding="utf-8")
    check = html.index('id="preprocessing-check"')
    assert check < html.index('id="table1"')
    assert "took different skull-stripping paths" in html[check:]
    assert "mask from the image (already skull-stripped)" in html
    assert "VAE-a<sub>p</sub>" in html
