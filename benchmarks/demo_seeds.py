"""Run the demo with several seeds and print what each gave: the spread, not one run.

For each seed, ``brainuad demo --seed N --out WORK/seedN`` runs as a fresh command (timed, wall
clock; an existing finished folder is reused and its recorded time reported), then this script
reads ``metrics.json`` and prints per seed: the combined-score test AUC of every method with its
CI, VAE-a_p's MAE_N / MAE_A against the ridge reference, the test AUC of L_age, the paired test
of VAE-a_p against VAE, and the wall time; then every single score's test AUC (with its validation
AUC) per seed and method, and the median [min, max] over seeds. Usage::

    .venv/bin/python benchmarks/demo_seeds.py --seeds 0 1 2 3 --work .bench/demo_seeds

The figures in ``docs/benchmarks/demo.md`` and the README come from this command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run_seed(work: Path, seed: int, extra: list[str]) -> tuple[dict, float]:
    out = work / f"seed{seed}"
    timing = out / "demo_wall_seconds.json"
    metrics = out / "results" / "metrics.json"
    if metrics.is_file() and timing.is_file():
        return json.loads(metrics.read_text()), json.loads(timing.read_text())["seconds"]
    cmd = [sys.executable, "-m", "brainuad", "demo", "--out", str(out), "--seed", str(seed)]
    t0 = time.perf_counter()
    subprocess.run([*cmd, "--quiet", *extra], check=True)
    seconds = time.perf_counter() - t0
    timing.write_text(json.dumps({"seconds": seconds, "command": cmd}))
    return json.loads(metrics.read_text()), seconds


def stage_times(out: Path) -> str:
    """The seconds of each stage of the study, from the runner's ``run_state.json``."""
    state = out / "results" / "run_state.json"
    if not state.is_file():
        return "stage times: not recorded"
    stages = json.loads(state.read_text())["stages"]
    parts = [f"{name} {rec['seconds']:.0f} s" for name, rec in stages.items() if "seconds" in rec]
    return "stages: " + ", ".join(parts)


def _pct(iv: dict) -> str:
    return f"{100 * iv['value']:.1f} ({100 * iv['ci_low']:.0f}, {100 * iv['ci_high']:.0f})"


def summarise(doc: dict, seconds: float) -> dict:
    methods = {m["method"]: m for m in doc["methods"]}
    row: dict = {"minutes": seconds / 60}
    for name, m in methods.items():
        row[f"auc_{name}"] = m["scores"]["combined"]["auc"]
    ap = methods.get("vae-ap")
    if ap is not None and ap.get("mae_n"):
        row["mae_n"], row["mae_a"] = ap["mae_n"]["mean"], ap["mae_a"]["mean"]
        row["auc_age"] = ap["scores"]["age"]["auc"]["value"]
    ridge = doc.get("references", {}).get("brain_age", {}).get("ridge")
    if ridge is not None:
        row["ridge_mae_n"] = ridge["mae_n"]["mean"]
    for c in doc.get("comparisons", []):
        if {c["method_a"], c["method_b"]} == {"vae", "vae-ap"}:
            sign = 1.0 if c["method_a"] == "vae-ap" else -1.0
            d = c["difference"]
            lo, hi = sorted((sign * d["ci_low"], sign * d["ci_high"]))
            row["diff"] = (sign * d["value"], lo, hi, c["p_delong"])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--work", type=Path, default=Path(".bench/demo_seeds"))
    ap.add_argument("extra", nargs="*", help="more `brainuad demo` options (after --)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows, docs = {}, {}
    for seed in args.seeds:
        doc, seconds = run_seed(args.work, seed, args.extra)
        docs[seed] = doc
        rows[seed] = summarise(doc, seconds)
        print(f"\n## seed {seed}\n")
        from brainuad.evaluation.report import format_study_summary, format_table1_from_dict

        print(format_table1_from_dict(doc))
        print(format_study_summary(doc))
        print(f"wall time: {seconds / 60:.1f} min; {stage_times(args.work / f'seed{seed}')}")
    methods = [k[4:] for k in rows[args.seeds[0]] if k.startswith("auc_") and k != "auc_age"]
    header = ["seed", *(f"{m} AUC (%)" for m in methods)]
    header += [
        "vae-ap MAE_N",
        "ridge MAE_N",
        "MAE_A",
        "L_age AUC",
        "vae-ap − vae (DeLong p)",
        "min",
    ]
    print("\n## all seeds\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for seed, r in rows.items():
        diff = r.get("diff")
        cells = [str(seed), *(_pct(r[f"auc_{m}"]) for m in methods)]
        test = "–"
        if diff is not None:
            d, lo, hi, p = (100 * diff[0], 100 * diff[1], 100 * diff[2], diff[3])
            test = f"{d:+.1f} ({lo:+.1f}, {hi:+.1f}), {p:.2g}"
        cells += [
            f"{r.get('mae_n', float('nan')):.2f}",
            f"{r.get('ridge_mae_n', float('nan')):.2f}",
            f"{r.get('mae_a', float('nan')):.2f}",
            f"{r.get('auc_age', float('nan')):.3f}",
            test,
            f"{r['minutes']:.1f}",
        ]
        print("| " + " | ".join(cells) + " |")

    def spread(key: str, scale: float = 1.0, fmt: str = ".1f") -> str:
        vals = [
            scale * (r[key]["value"] if isinstance(r[key], dict) else r[key])
            for r in rows.values()
            if key in r
        ]
        if not vals:
            return "–"
        return f"{statistics.median(vals):{fmt}} [{min(vals):{fmt}}, {max(vals):{fmt}}]"

    print("\n## single scores, test AUC (validation AUC) per seed\n")
    print("| seed | method | L_rec | L_KL | L_age | L_age bias-corrected | combined |")
    print("|---|---|---|---|---|---|---|")
    for seed, doc in docs.items():
        for m in doc["methods"]:
            cells = []
            for key in ("rec", "kl", "age", "age_bc", "combined"):
                score = m["scores"].get(key)
                if score is None:
                    cells.append("–")
                    continue
                val = m.get("val_auc", {}).get(key)
                if key == "combined":
                    val = m.get("weights", {}).get("val_auc")
                cells.append(f"{score['auc']['value']:.3f}" + (f" ({val:.3f})" if val else ""))
            print(f"| {seed} | {m['method']} | " + " | ".join(cells) + " |")

    print("\nmedian [min, max] over seeds:")
    for m in methods:
        print(f"  {m} combined AUC (%): {spread(f'auc_{m}', 100)}")
    print(
        f"  vae-ap MAE_N (y): {spread('mae_n', fmt='.2f')}; ridge MAE_N (y): "
        f"{spread('ridge_mae_n', fmt='.2f')}; L_age AUC: {spread('auc_age', fmt='.3f')}"
    )
    print(f"  wall time (min): {spread('minutes')}")


if __name__ == "__main__":
    main()
