"""One more method on finished demo runs: train, score and evaluate it beside the demo's methods.

For each folder made by ``brainuad demo --seed N --out DIR``, the extra method (default
``vae-acp``) is trained on the demo's own cache and split with the demo study's settings (its
``results/config.yaml``: preset, seed, epochs, checkpoint, overrides), through the study
runner's own stages (:mod:`brainuad.experiment.runner`), and evaluated together with the demo's
methods (their score tables and the ridge reference are copied, not recomputed). Nothing in
``DIR`` is written: everything goes to ``--work``/<DIR name>, and a finished stage is reused.

Printed per seed: the combined-score test AUC with its CI of every method, the extra method's
MAE_N / MAE_A (years), and the paired test (combined score, test set) of the extra method
against the baseline; then the median [min, max] over seeds. Usage::

    .venv/bin/python benchmarks/extra_method_seeds.py DEMO/seed0 DEMO/seed1 --method vae-acp
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
from pathlib import Path

from brainuad.experiment.config import load_study_config
from brainuad.experiment.runner import _evaluate, _score, _train
from brainuad.experiment.state import RunState, file_digest
from brainuad.io.cache import open_cache
from brainuad.methods import baseline_method, get_method, method_label
from brainuad.splits import read_splits


def run_extra(demo: Path, method: str, work: Path, *, progress: bool) -> tuple[dict, dict]:
    """Train/score/evaluate ``method`` on the demo in ``demo``; return (new, demo) metrics."""
    src = demo / "results"
    base = load_study_config(src / "config.yaml")
    if method in base.methods:
        raise SystemExit(f"{src}: the demo already trains {method}")
    work.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(base, output=work, methods=(*base.methods, method), report=False)
    for sub in ("scores", "brain_age"):
        (work / sub).mkdir(exist_ok=True)
    for m in base.methods:
        shutil.copy2(src / "scores" / f"{m}.csv", work / "scores" / f"{m}.csv")
    shutil.copy2(src / "brain_age" / "ridge.csv", work / "brain_age" / "ridge.csv")
    splits_path = work / "splits.csv"
    shutil.copy2(src / "splits.csv", splits_path)
    cache = open_cache(src / "cache").with_splits(read_splits(splits_path))
    state = RunState(work / "run_state.json")
    ran: list[str] = []

    def log(line: str) -> None:
        print(f"  {demo.name}: {line}", file=sys.stderr)

    train_fp = _train(config, method, cache, splits_path, state, progress, log, ran)
    score_fps = {m: file_digest(work / "scores" / f"{m}.csv") for m in base.methods}
    score_fps[method] = _score(config, method, cache, train_fp, state, progress, log, ran)
    ridge_fp = file_digest(work / "brain_age" / "ridge.csv")
    metrics_path, _ = _evaluate(config, score_fps, ridge_fp, state, log, ran)
    new = json.loads(metrics_path.read_text(encoding="utf-8"))
    old = json.loads((src / "metrics.json").read_text(encoding="utf-8"))
    return new, old


def summarise(doc: dict, method: str, baseline: str) -> dict:
    """The figures printed for one seed."""
    methods = {m["method"]: m for m in doc["methods"]}
    row: dict = {f"auc_{name}": m["scores"]["combined"]["auc"] for name, m in methods.items()}
    extra = methods[method]
    if extra.get("mae_n"):
        row["mae_n"], row["mae_a"] = extra["mae_n"]["mean"], extra["mae_a"]["mean"]
    for c in doc.get("comparisons", []):
        if {c["method_a"], c["method_b"]} == {method, baseline}:
            sign = 1.0 if c["method_a"] == method else -1.0
            d = c["difference"]
            lo, hi = sorted((sign * d["ci_low"], sign * d["ci_high"]))
            row["diff"] = (sign * d["value"], lo, hi, c["p_bootstrap"], c["p_delong"])
    return row


def check_unchanged(new: dict, old: dict) -> list[str]:
    """Methods whose combined test AUC differs from the demo's own metrics.json."""
    before = {m["method"]: m["scores"]["combined"]["auc"]["value"] for m in old["methods"]}
    return [
        m["method"]
        for m in new["methods"]
        if m["method"] in before and m["scores"]["combined"]["auc"]["value"] != before[m["method"]]
    ]


def _pct(iv: dict) -> str:
    return f"{100 * iv['value']:.1f} ({100 * iv['ci_low']:.1f}, {100 * iv['ci_high']:.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("demos", type=Path, nargs="+", help="folders of `brainuad demo --out`")
    ap.add_argument("--method", default="vae-acp", help="the extra method (a registered id)")
    ap.add_argument("--work", type=Path, default=Path(".bench/extra_method"))
    ap.add_argument("--progress", action="store_true", help="progress bars")
    args = ap.parse_args()
    method = get_method(args.method).id
    baseline = baseline_method()
    rows = []
    for demo in args.demos:
        new, old = run_extra(demo, method, args.work / demo.name / method, progress=args.progress)
        row = summarise(new, method, baseline)
        rows.append(row)
        print(f"{demo.name}: combined-score test AUC (%), {new['settings']['confidence']:.0%} CI")
        for key, iv in row.items():
            if key.startswith("auc_"):
                print(f"  {method_label(key[4:]):<10} {_pct(iv)}")
        if "mae_n" in row:
            print(
                f"  {method_label(method)} MAE_N {row['mae_n']:.2f} y, MAE_A {row['mae_a']:.2f} y"
            )
        if "diff" in row:
            d, lo, hi, p_boot, p_delong = row["diff"]
            print(
                f"  {method_label(method)} - {method_label(baseline)}: dAUC {100 * d:+.1f} "
                f"({100 * lo:+.1f}, {100 * hi:+.1f}) points, p = {p_boot:.3g} (paired "
                f"bootstrap), p = {p_delong:.3g} (DeLong)"
            )
        changed = check_unchanged(new, old)
        if changed:
            print(f"  note: combined AUC differs from the demo's metrics.json for {changed}")

    def spread(values: list[float], scale: float = 100.0, fmt: str = ".1f") -> str:
        v = [scale * x for x in values]
        return f"{statistics.median(v):{fmt}} [{min(v):{fmt}}, {max(v):{fmt}}]"

    print(f"\nmedian [min, max] over {len(rows)} seed(s):")
    for key in [k for k in rows[0] if k.startswith("auc_")]:
        vals = [r[key]["value"] for r in rows if key in r]
        print(f"  {method_label(key[4:]):<10} combined test AUC {spread(vals)} %")
    if all("mae_n" in r for r in rows):
        print(
            f"  {method_label(method)} MAE_N {spread([r['mae_n'] for r in rows], 1, '.2f')} y, "
            f"MAE_A {spread([r['mae_a'] for r in rows], 1, '.2f')} y"
        )
    if all("diff" in r for r in rows):
        print(
            f"  {method_label(method)} - {method_label(baseline)} dAUC "
            f"{spread([r['diff'][0] for r in rows])} points; p (DeLong) "
            f"{spread([r['diff'][4] for r in rows], 1, '.3g')}"
        )


if __name__ == "__main__":
    main()
