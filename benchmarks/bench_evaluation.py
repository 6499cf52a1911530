"""Benchmark of brainuad.evaluation against scikit-learn / scipy references, in one run.

1. Combined-score grid search over the paper's 2001 x 2001 grid on a validation split of
   40 anomalous + 80 normal subjects: our exact algorithm (median of ``--repeats`` runs) against
   a loop of ``sklearn.metrics.roc_auc_score`` calls, whose cost is the median per-call time
   (from ``--sklearn-calls`` timed calls on the same data) times 4,004,001.
2. BCa intervals of AUC, AUPRC and spec100 with 10,000 resamples on a test split of
   200 anomalous + 400 normal subjects: ``bootstrap_metrics`` (median of ``--repeats`` runs)
   against ``scipy.stats.bootstrap(method='BCa')`` with scikit-learn statistics, run on the
   very same resamples (same seed and batch), so the intervals must agree too.

Usage: ``.venv/bin/python benchmarks/bench_evaluation.py [--repeats 5] [--sklearn-calls 300]
[--scipy-resamples 10000]``. Figures are recorded in ``docs/benchmarks/evaluation.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from brainuad.evaluation.bootstrap import bootstrap_metrics
from brainuad.evaluation.grid import PAPER_ALPHAS, PAPER_GAMMAS, grid_search_combined
from brainuad.evaluation.metrics import METRICS

N_GRID = PAPER_ALPHAS.size * PAPER_GAMMAS.size


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _split(rng: np.random.Generator, n_pos: int, n_neg: int) -> tuple[np.ndarray, ...]:
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)
    rec = rng.gamma(4.0, 0.005, y.size) + 0.003 * y
    kl = 500 + 50 * rng.normal(size=y.size) + 30 * y
    age = np.abs(rng.normal(0, 7 + 7 * y))
    return rec, kl, age, y


def bench_grid(repeats: int, sklearn_calls: int) -> None:
    rec, kl, age, y = _split(np.random.default_rng(0), 40, 80)
    ours = _median_time(lambda: grid_search_combined(rec, kl, age, y), repeats)
    tied = tuple(np.round(v * s) / s for v, s in ((rec, 1000), (kl, 0.1), (age, 1)))
    ours_tied = _median_time(lambda: grid_search_combined(*tied, y), repeats)
    rng = np.random.default_rng(1)
    points = list(
        zip(
            rng.choice(PAPER_ALPHAS, sklearn_calls),
            rng.choice(PAPER_GAMMAS, sklearn_calls),
            strict=True,
        )
    )
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for a, g in points:
            roc_auc_score(y, a * rec + kl + g * age)
        per_call.append((time.perf_counter() - start) / len(points))
    sk = statistics.median(per_call) * N_GRID
    print(
        f"grid search, {PAPER_ALPHAS.size} x {PAPER_GAMMAS.size} = {N_GRID:,} points, "
        f"40 + 80 subjects"
    )
    print(f"  brainuad exact grid search      {ours:8.2f} s   (median of {repeats})")
    print(f"  same, heavily tied scores       {ours_tied:8.2f} s")
    print(
        f"  sklearn roc_auc_score loop      {sk:8.0f} s   (= {sk / 3600:.1f} h; "
        f"{1e3 * sk / N_GRID:.3f} ms/call x {N_GRID:,})"
    )
    print(f"  speed-up                        {sk / ours:8.0f} x")


def _sklearn_statistic(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    def statistic(pos: np.ndarray, neg: np.ndarray) -> float:
        yy = np.r_[np.ones(pos.size), np.zeros(neg.size)]
        ss = np.r_[pos, neg]
        if metric == "auc":
            return float(roc_auc_score(yy, ss))
        if metric == "auprc":
            return float(average_precision_score(yy, ss))
        fpr, tpr, _ = roc_curve(yy, ss, drop_intermediate=False)
        return float(np.max(1 - fpr[tpr >= 1]))

    return statistic


def bench_bca(repeats: int, n_resamples: int) -> None:
    rng = np.random.default_rng(2)
    _, kl, _, y = _split(rng, 200, 400)
    s = np.round(kl, 1)
    chunk = 1000
    run = lambda: bootstrap_metrics({"kl": s}, y, n_resamples=10_000, seed=3, chunk_size=chunk)  # noqa: E731
    ours = _median_time(run, repeats)
    boot = run()
    print("BCa intervals of AUC, AUPRC, spec100: 10,000 resamples, 200 + 400 subjects")
    print(f"  brainuad bootstrap_metrics      {ours:8.2f} s   (median of {repeats})")
    total = 0.0
    for metric in METRICS:
        start = time.perf_counter()
        ref = stats.bootstrap(
            (s[y == 1], s[y == 0]),
            _sklearn_statistic(metric),
            n_resamples=n_resamples,
            batch=chunk,
            method="BCa",
            vectorized=False,
            rng=np.random.default_rng(3),
        )
        total += (time.perf_counter() - start) * 10_000 / n_resamples
        if n_resamples == 10_000:
            iv = boot.interval("kl", metric)
            lo, hi = ref.confidence_interval
            print(
                f"    {metric:8s} ours ({iv.ci_low:.6f}, {iv.ci_high:.6f})  "
                f"scipy ({lo:.6f}, {hi:.6f})"
            )
    note = "" if n_resamples == 10_000 else f" (linear from {n_resamples} resamples: over-estimate)"
    print(f"  scipy.stats.bootstrap + sklearn {total:8.1f} s{note}")
    print(f"  speed-up                        {total / ours:8.0f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sklearn-calls", type=int, default=300)
    parser.add_argument("--scipy-resamples", type=int, default=10_000)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, numpy {np.__version__}")
    bench_grid(args.repeats, args.sklearn_calls)
    bench_bca(args.repeats, args.scipy_resamples)


if __name__ == "__main__":
    main()
