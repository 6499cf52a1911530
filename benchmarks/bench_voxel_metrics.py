"""Benchmark of the voxel-level localisation metrics on demo-sized data, against scikit-learn.

1. Pooled voxel AUROC + AUPRC (+ the oracle Dice, for free) of synthetic post-processed maps of
   ``--subjects`` test subjects (default 65, the demo's test split) on the demo's 64x77x66 model
   grid, over each subject's brain voxels (an ellipsoid, ~40% of the grid): ``pooled_ranking``
   (median of ``--repeats`` runs) against ``roc_auc_score`` + ``average_precision_score`` on
   the very same pooled voxels (median of ``--sklearn-repeats`` runs). The values must agree.
   Also the BCa interval of the pooled AUROC over subjects (10,000 exact replicates).
2. Per-subject cost of the rest of the stage, without the model: the Gaussian-smoothed map,
   the post-processing (erosion + masked 5x5x5 median), and the two thresholded masks with
   their component removal and Dice; multiplied by the demo's subject count it estimates the
   extra time the ``localise`` stages add to ``brainuad demo`` (3 methods x (30 healthy val +
   65 test) maps; one forward pass per map comes on top, see docs/benchmarks/predict.md).

Usage: ``.venv/bin/python benchmarks/bench_voxel_metrics.py [--subjects 65] [--repeats 5]
[--sklearn-repeats 3]``. Figures are recorded in ``docs/benchmarks/voxel.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi
from sklearn.metrics import average_precision_score, roc_auc_score

from brainuad.evaluation.voxel import dice, pooled_auroc_interval, pooled_ranking
from brainuad.scoring.postprocess import PostprocessConfig, postprocess_map, threshold_map

SHAPE = (64, 77, 66)


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _brain() -> np.ndarray:
    grid = np.indices(SHAPE).reshape(3, -1).T
    c = (np.asarray(SHAPE) - 1) / 2
    r = np.asarray(SHAPE) * 0.46
    return (np.sum(((grid - c) / r) ** 2, axis=1) <= 1.0).reshape(SHAPE)


def _subject(rng: np.random.Generator, brain: np.ndarray, lesion: bool) -> tuple[np.ndarray, ...]:
    amap = rng.gamma(2.0, 0.02, SHAPE).astype(np.float32) * brain
    truth = np.zeros(SHAPE, dtype=bool)
    if lesion:
        c = rng.uniform(0.35, 0.65, 3) * np.asarray(SHAPE)
        grid = np.indices(SHAPE).reshape(3, -1).T
        truth = (np.linalg.norm(grid - c, axis=1) <= rng.uniform(4, 9)).reshape(SHAPE) & brain
        amap = amap + 0.08 * truth * rng.random(SHAPE).astype(np.float32)
    return ndi.gaussian_filter(amap, 1.0).astype(np.float32) * brain, truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=65)
    ap.add_argument("--lesion-share", type=float, default=25 / 65)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sklearn-repeats", type=int, default=3)
    ap.add_argument("--per-subject", type=int, default=5, help="subjects timed for part 2")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    brain = _brain()
    cfg = PostprocessConfig()
    values, truths, post_times, dice_times = [], [], [], []
    for s in range(args.subjects):
        amap, truth = _subject(rng, brain, s < round(args.lesion_share * args.subjects))
        start = time.perf_counter()
        processed, mask = postprocess_map(amap, brain, cfg)
        post_times.append(time.perf_counter() - start)
        if truth.any() and len(dice_times) < args.per_subject:
            start = time.perf_counter()
            for t in (0.08, 0.1):
                dice(threshold_map(processed, mask, t, 8), truth)
            dice_times.append(time.perf_counter() - start)
        values.append(processed[mask])
        truths.append(truth[mask])
    scores, labels = np.concatenate(values), np.concatenate(truths)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}; {args.subjects} subjects "
        f"of {SHAPE}, {scores.size:,} pooled brain voxels ({int(labels.sum()):,} lesion)"
    )
    ours, r = _median_time(lambda: pooled_ranking(scores, labels), args.repeats)

    def sk() -> tuple[float, float]:
        return roc_auc_score(labels, scores), average_precision_score(labels, scores)

    theirs, (auc, ap_) = _median_time(sk, args.sklearn_repeats)
    print(f"pooled_ranking (AUROC + AUPRC + oracle Dice): {ours:.3f} s (median of {args.repeats})")
    print(
        f"sklearn roc_auc_score + average_precision_score: {theirs:.3f} s "
        f"(median of {args.sklearn_repeats})"
    )
    print(f"ratio sklearn / ours: {theirs / ours:.1f}x")
    ci_time, iv = _median_time(
        lambda: pooled_auroc_interval(values, truths, n_resamples=10_000), max(1, args.repeats // 2)
    )
    print(
        f"pooled AUROC BCa CI over subjects, 10,000 exact replicates: {ci_time:.3f} s "
        f"({iv.ci_low:.6f}, {iv.ci_high:.6f})"
    )
    print(
        f"AUROC {r.auroc:.12f} vs {auc:.12f} (diff {abs(r.auroc - auc):.1e}); "
        f"AUPRC {r.auprc:.12f} vs {ap_:.12f} (diff {abs(r.auprc - ap_):.1e})"
    )
    post = statistics.median(post_times)
    thr = statistics.median(dice_times) if dice_times else 0.0
    print(f"per subject: post-processing {post:.3f} s, 2 thresholded masks + Dice {thr:.3f} s")
    n_maps = 3 * (30 + args.subjects)
    n_lesion = round(args.lesion_share * args.subjects)
    # every test subject is thresholded twice, lesion subjects once more at the oracle threshold
    est = n_maps * post + 3 * (args.subjects * thr + n_lesion * 0.5 * thr) + 3 * (ours + ci_time)
    print(f"estimated extra for the demo (3 x {30 + args.subjects} maps, no model): {est:.0f} s")


if __name__ == "__main__":
    main()
