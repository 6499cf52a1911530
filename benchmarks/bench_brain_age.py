"""Ablation of VAE-a_p's age head on a study's cache: loss reduction, head capacity, regularisation.

Trains VAE-a_p with each configuration of :data:`CONFIGS` (and the plain VAE for reference) on
the healthy training subjects of a results folder of ``brainuad run`` / ``brainuad demo``, for
several seeds, scores the validation and test subjects with the last checkpoint and prints, per
configuration, the median [min, max] over seeds of:

* the validation age MAE of the last epoch and the test MAE_N / MAE_A (years),
* the test AUC of L_age, L_rec and L_KL,
* the training time (seconds),

next to the ridge-regression brain-age reference fitted on the same training subjects and the
MAE of predicting the training mean. Each configuration changes one thing against the ``cpu``
preset (``base``). Usage::

    .venv/bin/brainuad demo --out demo_out
    .venv/bin/python benchmarks/bench_brain_age.py demo_out/results --seeds 0 1 2

Runs go to ``--work`` (default ``.bench/brain_age``); a finished run is reused, so an
interrupted benchmark continues. ``--json`` writes every run's figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from brainuad.io.cache import open_cache
from brainuad.scoring import score_run
from brainuad.scoring.ridge_age import ridge_age_table
from brainuad.splits import read_splits
from brainuad.training import preset, train

#: name -> (model kind, TrainConfig overrides of the cpu preset)
CONFIGS: dict[str, tuple[str, dict]] = {
    "base": ("vae-ap", {}),
    "reduction=sum": ("vae-ap", {"reduction": "sum"}),
    "reduction=elbo-per-voxel": ("vae-ap", {"reduction": "elbo-per-voxel"}),
    "lr_schedule=constant": ("vae-ap", {"lr_schedule": "constant"}),
    "age_norm=false": ("vae-ap", {"age_norm": False}),
    "age_hidden=64": ("vae-ap", {"age_hidden": 64}),
    "age_dropout=0.5": ("vae-ap", {"age_dropout": 0.5}),
    "age_weight_decay=0.01": ("vae-ap", {"age_weight_decay": 0.01}),
    "age_lr_scale=0.1": ("vae-ap", {"age_lr_scale": 0.1}),
    "vae (no age head)": ("vae", {}),
    "vae, reduction=sum": ("vae", {"reduction": "sum"}),
}


def one_run(results: Path, work: Path, name: str, seed: int) -> dict:
    kind, overrides = CONFIGS[name]
    slug = name.replace("=", "-").replace(" ", "_").replace("(", "").replace(")", "")
    run_dir = work / f"{slug}-seed{seed}"
    record = run_dir / "bench.json"
    if record.is_file():
        return json.loads(record.read_text())
    cfg = preset("cpu").replace(seed=seed, **overrides)
    splits = results / "splits.csv"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    res = train(results / "cache", kind, run_dir, cfg, splits=splits, progress=False)
    seconds = time.perf_counter() - t0
    cache = open_cache(results / "cache").with_splits(read_splits(splits))
    s = score_run(run_dir, cache, split="eval", which="last", progress=False)
    test = s[s["split"] == "test"]
    y = test["label"].to_numpy()
    out = {"name": name, "seed": seed, "seconds": round(seconds, 1)}
    for col, key in (("rec", "auc_rec"), ("kl", "auc_kl")):
        out[key] = float(roc_auc_score(y, test[col]))
    if kind == "vae-ap":
        err = test["age_abs_error"].to_numpy(dtype=float)
        out["auc_age"] = float(roc_auc_score(y, err))
        out["mae_n"], out["mae_a"] = float(err[y == 0].mean()), float(err[y == 1].mean())
        out["val_mae_last_epoch"] = float(res.history[-1]["val_age"])
    record.write_text(json.dumps(out))
    return out


def _cell(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} [{format(min(values), fmt)}, {format(max(values), fmt)}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="results folder of brainuad run / demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--work", type=Path, default=Path(".bench/brain_age"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    cache = open_cache(args.results / "cache").with_splits(read_splits(args.results / "splits.csv"))
    ridge = ridge_age_table(cache)
    rt = ridge[ridge["split"] == "test"]
    ry = rt["label"].to_numpy()
    ages = cache.subjects["age"].to_numpy(dtype=float)
    train_mean = ages[cache.indices(split="train", label=0)].mean()
    test_n = ages[cache.indices(split="test", label=0)]
    print(f"cohort: {args.results} (seeds {args.seeds})")
    print(
        f"reference: ridge on the voxels MAE_N {rt['age_abs_error'][ry == 0].mean():.2f} y, "
        f"MAE_A {rt['age_abs_error'][ry == 1].mean():.2f} y; predicting the training mean: "
        f"MAE_N {np.abs(test_n - train_mean).mean():.2f} y"
    )
    rows, runs = [], []
    for name in args.configs:
        done = [one_run(args.results, args.work, name, s) for s in args.seeds]
        runs += done

        def col(key: str, done: list[dict] = done) -> list[float]:
            return [r[key] for r in done if key in r]

        rows.append(
            {
                "configuration": name,
                "val MAE last epoch": _cell(col("val_mae_last_epoch"), ".2f"),
                "MAE_N": _cell(col("mae_n"), ".2f"),
                "MAE_A": _cell(col("mae_a"), ".2f"),
                "AUC L_age": _cell(col("auc_age"), ".3f"),
                "AUC L_rec": _cell(col("auc_rec"), ".3f"),
                "AUC L_KL": _cell(col("auc_kl"), ".3f"),
                "train s": _cell(col("seconds"), ".0f"),
            }
        )
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in header) + " |")
    if args.json is not None:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
