"""Benchmark: preprocessing throughput on 1 and 2 workers, local pool vs Dask vs shards + merge.

The same synthetic cohort (``brainuad synth``: 1 mm heads with skull, brain masks written so
that ``--skull-strip mask`` works like the demo) is preprocessed from scratch, into a fresh cache
each time, by

* ``local-1`` / ``local-2``: :func:`brainuad.preprocessing.preprocess_cohort`, process pool of 1
  and 2 workers (the reference: ``local-1``);
* ``dask-1`` / ``dask-2``: the same with ``executor="dask"`` (a LocalCluster of 1 and 2
  single-threaded worker processes, started and stopped inside the timed call);
* ``shards-2``: two ``brainuad preprocess --shard i/2 -j 1`` commands at once (as two array
  tasks would run), then :func:`brainuad.preprocessing.shards.merge_parts`, timed separately.

It prints wall seconds, throughput (scans/s), speed-up and parallel efficiency against
``local-1`` (efficiency = speed-up / workers), the merge's cost (seconds, and per subject),
checks that every cache holds the same volumes, and projects the wall time of 40,000 scans on N
nodes from these figures alone: ``40000 * s1 / (N * cores * E) + 40000 * merge_per_subject``
with ``s1`` the measured seconds per scan of one worker and ``E`` the measured 2-worker
efficiency of the shards.

    nice -n 5 .venv/bin/python benchmarks/bench_scaling.py --n 40 --json scaling.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from brainuad.io.cache import open_cache
from brainuad.preprocessing import load_config, preprocess_cohort
from brainuad.preprocessing.shards import merge_parts


def synthesise(folder: Path, n: int, voxel_size: float, jobs: int) -> Path:
    """The cohort (reused when already there): 3 healthy heads per glioma head."""
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        return manifest
    n_anom = n // 4
    cmd = [
        sys.executable, "-m", "brainuad", "synth", str(folder),
        "--n-normal", str(n - n_anom), "--n-anomalous", str(n_anom),
        "--voxel-size", str(voxel_size), "--brain-masks", "--seed", "0", "-j", str(jobs),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return manifest


def run_in_process(manifest: Path, out: Path, cfg, jobs: int, executor: str) -> dict:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    report = preprocess_cohort(
        manifest, out, config=cfg, jobs=jobs, progress=False, executor=executor
    )
    wall = time.perf_counter() - start
    assert not report.failures, report.summary()
    return {"wall": wall, "workers": jobs}


def run_shards(manifest: Path, out: Path, skull_strip: str, n_shards: int) -> dict:
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "brainuad",
                "preprocess",
                str(manifest),
                "--out",
                str(out),
                "--skull-strip",
                skull_strip,
                "--shard",
                f"{i}/{n_shards}",
                "-j",
                "1",
                "--no-progress",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
        )
        for i in range(1, n_shards + 1)
    ]
    codes = [p.wait() for p in procs]
    shards = time.perf_counter() - start
    assert codes == [0] * n_shards, codes
    t0 = time.perf_counter()
    merge_parts(out)
    merge = time.perf_counter() - t0
    return {"wall": shards + merge, "shards_wall": shards, "merge": merge, "workers": n_shards}


def per_scan(out: Path) -> dict:
    subjects = open_cache(out).subjects
    return {
        "median_scan_wall_s": float(np.median(subjects["t_total"])),
        "median_scan_cpu_s": float(np.median(subjects["t_cpu"])),
    }


def report(results: dict[str, dict], n: int, cores: int, target: int, note: str) -> list[dict]:
    """Print the table and the projection; returns the projection rows."""
    base = results.get("local-1")
    print(f"\n{note}")
    print(
        f"{'config':<10} {'wall s':>8} {'scans/s':>8} {'speed-up':>9} {'efficiency':>10}"
        f" {'cpu s/scan':>10} {'same data':>9}"
    )
    for name, r in results.items():
        thr = n / r["wall"]
        up = base["wall"] / r["wall"] if base else float("nan")
        eff = up / r["workers"]
        r.update(throughput=thr, speedup=up, efficiency=eff)
        print(
            f"{name:<10} {r['wall']:8.1f} {thr:8.3f} {up:9.2f} {eff:10.2f}"
            f" {r['median_scan_cpu_s']:10.2f} {str(r['same_volumes_as_first']):>9}"
        )
    shards = next((r for k, r in results.items() if k.startswith("shards")), None)
    rows: list[dict] = []
    if not (base and shards):
        return rows
    s1 = base["wall"] / n
    cpu1 = base["median_scan_cpu_s"]
    merge_per = shards["merge"] / n
    eff = shards["efficiency"]
    print(
        f"\nmerge: {shards['merge']:.2f} s for {n} subjects = {1000 * merge_per:.1f} ms/subject "
        f"({100 * shards['merge'] / shards['wall']:.1f}% of the sharded run's wall time)"
    )
    print(
        f"projection to {target} scans, {cores} workers (cores) per node, merge "
        f"{target * merge_per / 60:.1f} min (linear in subjects):\n"
        f"  as measured here: {s1:.2f} s/scan on one worker x 1/efficiency {eff:.2f} "
        f"(shards-2); dedicated cores: {cpu1:.2f} CPU-s/scan (median), efficiency 1"
    )
    print(f"{'nodes':>6} {'workers':>8} {'measured h':>11} {'dedicated h':>12}")
    for nodes in (1, 2, 4, 8, 16, 32, 64):
        workers = nodes * cores
        merge = target * merge_per / 3600
        measured = target * s1 / (workers * eff) / 3600 + merge
        dedicated = target * cpu1 / workers / 3600 + merge
        rows.append({"nodes": nodes, "measured_h": measured, "dedicated_h": dedicated})
        print(f"{nodes:>6} {workers:>8} {measured:11.2f} {dedicated:12.2f}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="synthetic heads")
    ap.add_argument("--voxel-size", type=float, default=1.0, help="head voxel size in mm")
    ap.add_argument("--skull-strip", default="mask", help="mask (like the demo) or deepbet")
    ap.add_argument("--work", type=Path, default=Path("bench_scaling_work"))
    ap.add_argument("--configs", default="local-1,local-2,dask-1,dask-2,shards-2")
    ap.add_argument("--cores-per-node", type=int, default=32, help="for the projection")
    ap.add_argument("--target", type=int, default=40_000, help="scans in the projection")
    ap.add_argument("--json", type=Path, default=None, help="save the results here")
    ap.add_argument("--report-only", type=Path, default=None, help="print a saved --json")
    args = ap.parse_args()

    if args.report_only:
        saved = json.loads(args.report_only.read_text())
        n = int(saved["args"]["n"])
        report(saved["results"], n, args.cores_per_node, args.target, saved.get("note", ""))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    manifest = synthesise(args.work / "cohort", args.n, args.voxel_size, jobs=2)
    cfg = load_config(None, skull_strip=args.skull_strip)
    results: dict[str, dict] = {}
    reference = None
    load_before = os.getloadavg()[0]
    for name in args.configs.split(","):
        out = args.work / f"cache-{name}"
        shutil.rmtree(out, ignore_errors=True)
        kind, workers = name.split("-")
        if kind == "shards":
            res = run_shards(manifest, out, args.skull_strip, int(workers))
        else:
            res = run_in_process(manifest, out, cfg, int(workers), kind)
        res.update(per_scan(out))
        res["load_average_after"] = os.getloadavg()[0]
        volumes = np.asarray(open_cache(out).volumes)
        if reference is None:
            reference = volumes
        res["same_volumes_as_first"] = bool(np.array_equal(volumes, reference))
        results[name] = res
        print(f"{name}: {res}", flush=True)
    note = (
        f"{args.n} heads ({args.voxel_size:g} mm), skull strip {args.skull_strip}, "
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.2f} before the first run"
    )
    projection = report(results, args.n, args.cores_per_node, args.target, note)
    if args.json:
        saved = {"args": {k: str(v) for k, v in vars(args).items()}, "note": note}
        saved.update(results=results, projection=projection)
        args.json.write_text(json.dumps(saved, indent=2))


if __name__ == "__main__":
    main()
