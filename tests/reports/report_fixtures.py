"""A small fake results folder (as the experiment runner writes it) for the report tests.

Scores are random with a class shift; ``metrics.json`` is computed with the real evaluation API
(few resamples, coarse grids) so the report is tested against genuine metrics.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainuad.evaluation import evaluate_methods, write_metrics

METHODS = ("vae", "vae-ac", "vae-ap")
COUNTS = {"train": (20, 0), "val": (16, 8), "test": (30, 15)}
SHIFT = {"vae": 0.6, "vae-ac": 0.9, "vae-ap": 1.3}
CONFIG_TEXT = "cohort: data/manifest.csv\noutput: results\npreset: tiny  # fake study\nseed: 0\n"


def subjects(seed: int = 0) -> pd.DataFrame:
    """subject_id, split, label, age of the fake cohort."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, (n_norm, n_anom) in COUNTS.items():
        for label, n in ((0, n_norm), (1, n_anom)):
            for _ in range(n):
                age = rng.uniform(20, 80) if label == 0 else rng.uniform(40, 80)
                rows.append({"split": split, "label": label, "age": round(float(age), 1)})
    frame = pd.DataFrame(rows)
    frame.insert(0, "subject_id", [f"sub-{i:03d}" for i in range(len(frame))])
    return frame


def scores_table(cohort: pd.DataFrame, method: str, seed: int) -> pd.DataFrame:
    """A scores CSV frame for ``method`` (age columns empty without an age head)."""
    rng = np.random.default_rng(seed)
    n, lab = len(cohort), cohort["label"].to_numpy()
    s = SHIFT[method]
    out = cohort.copy()
    out["rec"] = 0.05 + 0.004 * s * lab + 0.004 * rng.standard_normal(n)
    out["kl"] = 200 + 25 * s * lab + 25 * rng.standard_normal(n)
    if method == "vae-ap":
        pred = out["age"] + rng.normal(0, 1, n) * np.where(lab == 1, 14.0, 6.0)
        out["age_pred"] = pred.round(2)
        out["age_abs_error"] = (pred - out["age"]).abs().round(2)
    else:
        out["age_pred"] = np.nan
        out["age_abs_error"] = np.nan
    out["method"] = method
    return out


def _slice_stack(k: int, shape: tuple[int, int], labels: np.ndarray, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    r = np.sqrt(yy**2 + (1.2 * xx) ** 2)
    brain = np.clip(1.1 - r, 0, None) * (1 + 0.3 * np.cos(6 * xx) * np.sin(5 * yy))
    mask = (r < 0.95).astype(np.float32)
    inputs, recons = [], []
    for i in range(k):
        img = brain + 0.03 * rng.standard_normal(shape)
        if labels[i] == 1:  # a bright "lesion" the reconstruction misses
            img = img + 0.8 * np.exp(-((yy - 0.3) ** 2 + (xx + 0.25) ** 2) / 0.02)
        inputs.append(img * mask)
        recons.append((brain + 0.02 * rng.standard_normal(shape)) * mask)
    inp, rec = np.stack(inputs), np.stack(recons)
    return {
        "input": inp.astype(np.float32),
        "recon": rec.astype(np.float32),
        "residual": (np.abs(inp - rec) * mask).astype(np.float32),
        "mask": np.broadcast_to(mask, inp.shape).astype(np.float32),
    }


def write_examples(path: Path, cohort: pd.DataFrame, seed: int) -> None:
    """examples/<method>.npz with 3 test subjects (2 normal, 1 anomalous), three planes."""
    test = cohort[cohort["split"] == "test"]
    pick = pd.concat([test[test["label"] == 0].head(2), test[test["label"] == 1].head(1)])
    labels = pick["label"].to_numpy()
    arrays: dict[str, np.ndarray] = {
        "subject_id": pick["subject_id"].to_numpy().astype(str),
        "label": labels.astype(np.int64),
        "age": pick["age"].to_numpy(dtype=np.float64),
    }
    shapes = {"axial": (30, 26), "coronal": (26, 26), "sagittal": (26, 30)}
    for j, (plane, shape) in enumerate(shapes.items()):
        for layer, arr in _slice_stack(len(pick), shape, labels, seed + j).items():
            arrays[f"{layer}_{plane}"] = arr
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def write_log(path: Path, method: str, epochs: int = 12) -> None:
    """runs/<method>/log.csv with the columns the training engine writes."""
    e = np.arange(1, epochs + 1)
    frame = pd.DataFrame({"epoch": e, "step": 10 * e})
    frame["train_loss"], frame["val_loss"] = 900 / e + 100, 950 / e + 120
    frame["train_rec"], frame["val_rec"] = 0.2 / np.sqrt(e), 0.25 / np.sqrt(e)
    frame["train_kl"], frame["val_kl"] = 80 + 20 * np.log(e), 85 + 20 * np.log(e)
    if method == "vae-ap":
        frame["train_age"], frame["val_age"] = 15 / e + 4, 15 / e + 6
        frame["val_age_mean_pred"] = 13.5
    frame["lr"], frame["volumes_per_s"], frame["best"] = 1e-3, 25.0, 1
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def make_results(root: Path, methods: tuple[str, ...] = METHODS, seed: int = 0) -> Path:
    """Write a complete fake results folder under ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    cohort = subjects(seed)
    cohort.to_csv(root / "splits.csv", index=False)
    (root / "config.yaml").write_text(CONFIG_TEXT, encoding="utf-8")
    tables = {}
    for i, method in enumerate(methods):
        table = scores_table(cohort, method, seed + 10 + i)
        (root / "scores").mkdir(exist_ok=True)
        table.to_csv(root / "scores" / f"{method}.csv", index=False)
        tables[method] = table
        write_examples(root / "examples" / f"{method}.npz", cohort, seed + i)
        write_log(root / "runs" / method / "log.csv", method)
    study = evaluate_methods(
        tables,
        n_resamples=200,
        seed=seed,
        alphas=np.round(np.arange(0, 2.0001, 0.1), 3),
        gammas=np.arange(0, 21.0, 1.0),
    )
    write_metrics(study, root / "metrics.json")
    state = {
        "stages": {
            "preprocess": {"seconds": 42.5, "finished": "2024-05-01T10:00:00+00:00"},
            "train": {"seconds": 3725.0, "finished": "2024-05-01T11:02:05+00:00", "epochs": 12},
        },
        "versions": {"brainuad": "0.1.0", "numpy": np.__version__, "torch": "2.x"},
        "seed": seed,
    }
    (root / "run_state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    return root


def copy_results(results_dir: Path, dest: Path) -> Path:
    """A writable copy of a results folder (without any report)."""
    shutil.copytree(results_dir, dest, ignore=shutil.ignore_patterns("report", ".report*"))
    return dest


def run_chromium(exe: str, profile: Path, *args: str, timeout: float = 90) -> str:
    """Run headless chromium with a throw-away profile, no network services; return stdout."""
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {timeout} s")
    return done.stdout
