"""Inference: per-subject anomaly scores (L_rec, L_KL, L_age), residual maps, example slices."""

from brainuad.scoring.cohort import (
    SCORE_COLUMNS,
    model_space_affine,
    resolve_device,
    score_cache,
    score_run,
    select_indices,
)
from brainuad.scoring.examples import choose_examples, example_slices, save_examples
from brainuad.scoring.residuals import BatchScores, anomaly_map, kl_to_standard_normal, score_batch

__all__ = [
    "SCORE_COLUMNS",
    "BatchScores",
    "anomaly_map",
    "choose_examples",
    "example_slices",
    "kl_to_standard_normal",
    "model_space_affine",
    "resolve_device",
    "save_examples",
    "score_batch",
    "score_cache",
    "score_run",
    "select_indices",
]
