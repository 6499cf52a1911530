"""The demo: a synthetic cohort, then the whole study on it with the ``cpu`` preset.

``brainuad demo`` (the README's first command) writes ``OUT/cohort`` (NIfTI heads with skull and
a manifest, from :mod:`brainuad.synth`), ``OUT/study.yaml`` and the results in ``OUT/results``.
Re-running reuses the cohort and every finished stage, so an interrupted demo continues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from brainuad.errors import ConfigError
from brainuad.experiment.config import StudyConfig, dump_study_config
from brainuad.experiment.runner import Log, StudyResult, run_study
from brainuad.io.atomic import write_json_atomic, write_text_atomic


@dataclass(frozen=True)
class DemoConfig:
    """Every default of the demo, in one place (``brainuad demo --help`` shows them).

    Sized so that the age head has healthy subjects to learn from and the combined-score grid
    search has data (at least 30 healthy + 15 anomalous validation subjects, 40 + 25 test
    subjects), within about 15 minutes on 2 CPU cores:

    * ``n_normal``/``n_anomalous``: 170 healthy (100 train, 30 val, 40 test) and 40 anomalous
      (15 val, 25 test) synthetic subjects; the split sizes are counts for this cohort and are
      read as proportions for any other size.
    * ``voxel_size``: the synthetic scans are acquired at 1.5 mm isotropic (a common clinical
      protocol), which halves the synthesis time; preprocessing resamples them to 1 mm as the
      paper's pipeline does. ``1.0`` synthesises at the template's 1 mm.
    * ``skull_strip``: ``mask`` uses the cohort's true brain masks (``deepbet`` runs the CNN,
      about 2.5 s more per scan); ``register_resolution``: 4 mm (0.3-0.6 mm registration error
      measured against 3 mm's 0.2-0.5 mm, half the time; docs/benchmarks/preprocessing.md).
    * ``preset``: ``cpu`` (see :mod:`brainuad.training.config`); ``epochs`` ``None`` keeps it.
    """

    n_normal: int = 170
    n_anomalous: int = 40
    seed: int = 0
    preset: str = "cpu"
    epochs: int | None = None
    healthy_split: tuple[float, float, float] = (100, 30, 40)
    anomalous_split: tuple[float, float] = (15, 25)
    n_resamples: int = 10_000
    voxel_size: float = 1.5
    skull_strip: str = "mask"
    register_resolution: float = 4.0
    jobs: int | None = None


def _cohort_record(demo: DemoConfig) -> dict[str, Any]:
    return {
        "n_normal": demo.n_normal,
        "n_anomalous": demo.n_anomalous,
        "seed": demo.seed,
        "brain_masks": True,
        "voxel_size": demo.voxel_size,
    }


def ensure_cohort(out: Path, demo: DemoConfig, *, progress: bool, log: Log) -> Path:
    """Generate the demo cohort unless ``out/cohort`` already holds the same one."""
    from brainuad.synth import SynthConfig, generate_cohort

    cohort_dir = out / "cohort"
    record_path = cohort_dir / "demo_cohort.json"
    manifest = cohort_dir / "manifest.csv"
    want = _cohort_record(demo)
    if manifest.exists() and record_path.exists():
        if json.loads(record_path.read_text(encoding="utf-8")) == want:
            log(f"[synth] reusing the cohort in {cohort_dir}")
            return manifest
    log(
        f"[synth] {demo.n_normal} normal + {demo.n_anomalous} anomalous synthetic heads"
        f" -> {cohort_dir}"
    )
    manifest = generate_cohort(
        cohort_dir,
        demo.n_normal,
        demo.n_anomalous,
        seed=demo.seed,
        config=SynthConfig(write_brain_masks=True, voxel_size=demo.voxel_size),
        n_jobs=demo.jobs,
        progress=progress,
        overwrite=True,
    )
    write_json_atomic(record_path, want)
    return manifest


def run_demo(
    out: str | Path, demo: DemoConfig = DemoConfig(), *, progress: bool = True, log: Log = print
) -> StudyResult:
    """Make (or reuse) the synthetic cohort and run (or resume) the study on it."""
    if demo.n_normal < 20 or demo.n_anomalous < 4:
        raise ConfigError(
            f"demo needs at least 20 normal and 4 anomalous subjects, found {demo.n_normal} "
            f"and {demo.n_anomalous}"
        )
    out = Path(out).resolve()
    manifest = ensure_cohort(out, demo, progress=progress, log=log)
    config = StudyConfig(
        cohort=manifest,
        output=out / "results",
        preset=demo.preset,
        seed=demo.seed,
        epochs=demo.epochs,
        jobs=demo.jobs,
        preprocess={
            "skull_strip": demo.skull_strip,
            "register_resolution": demo.register_resolution,
        },
        healthy_split=demo.healthy_split,
        anomalous_split=demo.anomalous_split,
        n_resamples=demo.n_resamples,
    )
    write_text_atomic(out / "study.yaml", dump_study_config(config))
    return run_study(config, progress=progress, log=log)


def demo_config(**changes: Any) -> DemoConfig:
    """A :class:`DemoConfig` with some fields changed (``None`` values ignored)."""
    return replace(DemoConfig(), **{k: v for k, v in changes.items() if v is not None})
