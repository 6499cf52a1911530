"""Benchmark: ``brainuad predict`` of one 1 mm T1 head end to end, per stage, vs preprocessing.

A raw-like synthetic head (skull, noise, bias field, oblique orientation; 1 mm, from
:mod:`brainuad.synth`, with a glioma) is assessed with a model bundle that uses the default
(paper) preprocessing: deepbet skull stripping, affine registration to MNI152, N4, denoising,
crop and 2.5x downsampling to 64x77x66. Without ``--bundle`` a bundle of an *untrained* network
of the chosen preset is built for timing (weights do not change the time). Measured, as the
median of ``--runs`` warm runs in this process (deepbet and the model already loaded):

* ``preprocess`` (with its own steps), ``model`` (one forward pass), ``map`` (smoothing and
  resampling onto the scan's grid), ``outputs`` (NIfTI, PNG overview, JSON, CSV) and the
  whole :func:`brainuad.bundle.predict_to_folder` call;
* the preprocessing alone (:func:`brainuad.preprocessing.preprocess_subject`) and the ratio
  end-to-end / preprocessing;
* with ``--cli``, the wall time of the command itself (``brainuad predict MODEL SCAN --age 63
  --out OUT`` in a fresh process: Python start, imports, bundle and deepbet loading included).

    .venv/bin/python benchmarks/bench_predict.py --runs 3 --cli --json predict.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch


def make_head(folder: Path, seed: int) -> Path:
    from brainuad.synth import SynthConfig, generate_subject

    subject = generate_subject(63.0, 1, seed=seed, config=SynthConfig(voxel_size=1.0))
    path = folder / "sub-bench_T1w.nii.gz"
    nib.save(nib.Nifti1Image(subject.image, subject.affine), str(path))
    return path


def timing_bundle(folder: Path, preset_name: str) -> Path:
    """A bundle of an untrained ``preset_name`` network with the default preprocessing."""
    from brainuad.bundle import CombinedWeights, write_bundle
    from brainuad.models import build_model
    from brainuad.preprocessing import PreprocessConfig, cache_settings
    from brainuad.training import preset

    cfg = PreprocessConfig()
    train = preset(preset_name)
    model_cfg = train.model_config("vae-ap", tuple(cfg.target_shape))  # type: ignore[arg-type]
    model = build_model(model_cfg, seed=0)
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20, int), np.ones(10, int)]
    ages = rng.uniform(20, 80, labels.size)
    scores = pd.DataFrame(
        {
            "subject_id": [f"v{i}" for i in range(labels.size)],
            "split": "val",
            "label": labels,
            "age": ages,
            "rec": rng.uniform(0.02, 0.04, labels.size) + 0.01 * labels,
            "kl": rng.uniform(100, 200, labels.size) + 50 * labels,
            "age_pred": ages + rng.normal(0, 7, labels.size),
        }
    )
    scores["age_abs_error"] = (scores["age_pred"] - scores["age"]).abs()
    return write_bundle(
        folder / "model",
        tensors={f"model.{k}": v for k, v in model.state_dict().items()},
        state={"model": model_cfg.to_dict(), "train": train.to_dict(), "seed": 0},
        scores=scores,
        weights=CombinedWeights(1.0, 1.0, 0.5),
        preprocess_settings=cache_settings(cfg),
        train_subjects=pd.DataFrame({"age": [18.0, 90.0]}),
        extra={"note": "untrained weights, for timing only"},
    )


def stages_once(bundle, head: Path, out: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """One scan through the stages of predict_to_folder, each timed."""
    from brainuad.bundle import ScanInput, predict_preprocessed, preprocess_scan
    from brainuad.bundle.outputs import csv_row, update_table, write_scan

    scan = ScanInput("sub-bench", head, 63.0)
    t0 = time.perf_counter()
    prep = preprocess_scan(bundle.preprocess, scan)
    t1 = time.perf_counter()
    pred = predict_preprocessed(bundle, [scan], [prep])[0]
    t2 = time.perf_counter()
    files = write_scan(out, pred, bundle)
    update_table(out / "predictions.csv", [csv_row(pred, files)])
    t3 = time.perf_counter()
    times = {
        "preprocess": t1 - t0,
        "model": pred.seconds["model"],
        "map": pred.seconds["map"],
        "outputs": t3 - t2,
        "stages_total": t3 - t0,
    }
    times.update({f"prep.{k[2:]}": float(v) for k, v in prep.qc.items() if k.startswith("t_")})
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
    parser.add_argument("--bundle", type=Path, default=None, help="use this bundle instead")
    parser.add_argument("--cli", action="store_true", help="also time the CLI in a new process")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as folder:
        run_benchmark(args, Path(folder))


def run_benchmark(args: argparse.Namespace, tmp: Path) -> None:
    """Build the scan (and bundle), then time everything (module docstring)."""
    from brainuad.bundle import ScanInput, load_bundle, predict_to_folder
    from brainuad.preprocessing import preprocess_subject

    head = make_head(tmp, args.seed)
    bundle_dir = args.bundle or timing_bundle(tmp, args.preset)
    t = time.perf_counter()
    bundle = load_bundle(bundle_dir, device="cpu")
    load_s = time.perf_counter() - t
    print(
        f"scan {head.name}: {nib.load(str(head)).shape} voxels, torch threads "
        f"{torch.get_num_threads()}, bundle {bundle.method} {bundle.model_config.channels} "
        f"loaded in {load_s:.2f} s",
        flush=True,
    )
    warmup = stages_once(bundle, head, tmp / "warm")  # loads deepbet once
    print(f"warm-up (first scan, deepbet loading): {warmup['stages_total']:.2f} s")

    runs: dict[str, list[float]] = {}
    for r in range(args.runs):
        for key, value in stages_once(bundle, head, tmp / f"stages{r}").items():
            runs.setdefault(key, []).append(value)
        t = time.perf_counter()
        predict_to_folder(
            bundle,
            [ScanInput("sub-bench", head, 63.0)],
            tmp / f"e2e{r}",
            progress=False,
            stop_on_error=True,
            errors_file=False,
        )
        runs.setdefault("predict_to_folder", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        preprocess_subject(head, config=bundle.preprocess)
        runs.setdefault("preprocess_alone", []).append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in runs.items()}
    med["ratio_end_to_end_vs_preprocess"] = med["predict_to_folder"] / med["preprocess_alone"]
    if args.cli:
        cli = []
        for r in range(args.runs):
            cmd = [
                str(Path(sys.executable).with_name("brainuad")),
                "predict",
                str(bundle_dir),
                str(head),
                "--age",
                "63",
                "--out",
                str(tmp / f"cli{r}"),
                "--no-progress",
            ]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            cli.append(time.perf_counter() - t)
        med["cli_wall"] = statistics.median(cli)
    for key, value in med.items():
        print(f"{key:34s} {value:8.3f}")
    if args.json:
        args.json.write_text(
            json.dumps({"median_seconds": med, "runs": runs, "load_bundle_s": load_s}, indent=2)
        )


if __name__ == "__main__":
    main()
