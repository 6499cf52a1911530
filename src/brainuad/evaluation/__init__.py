"""Evaluation of anomaly scores: metrics, BCa intervals, exact combined-score grid search, tests.

Sample-level detection (label 1 = anomalous, higher score = more anomalous), as in the paper §3:

- :mod:`~brainuad.evaluation.metrics`: AUC, AUPRC (average precision) and specificity at 100%
  sensitivity, equal to scikit-learn's definitions under ties.
- :mod:`~brainuad.evaluation.bootstrap`: 95% BCa intervals from 10,000 stratified resamples,
  vectorised (all metrics of all scores of 600 subjects in about a second).
- :mod:`~brainuad.evaluation.grid`: the exact AUC of ``alpha L_rec + L_KL + gamma L_age`` over the
  paper's 2001 x 2001 grid in about a second, and the chosen weights.
- :mod:`~brainuad.evaluation.compare`: paired bootstrap and DeLong tests of an AUC difference.
- :mod:`~brainuad.evaluation.study`: the whole study (weights on val, metrics on test, all pairs).
- :mod:`~brainuad.evaluation.report`: ``metrics.json`` (schema), ``metrics.csv``, Table 1.

Only NumPy, SciPy and pandas are used; nothing here imports torch.
"""

from brainuad.evaluation.bootstrap import (
    Interval,
    MetricBootstrap,
    bca_interval,
    bootstrap_metrics,
    stratified_resample_weights,
)
from brainuad.evaluation.compare import (
    DeLongResult,
    PairedAUCTest,
    delong_test,
    paired_auc_test,
)
from brainuad.evaluation.grid import (
    PAPER_ALPHAS,
    PAPER_GAMMAS,
    GridSearchResult,
    combined_score,
    decimal_grid,
    grid_search_combined,
    pair_count_grid,
)
from brainuad.evaluation.metrics import (
    METRICS,
    ScoreInputError,
    auc,
    average_precision,
    detection_metrics,
    specificity_at_full_sensitivity,
)
from brainuad.evaluation.report import (
    flat_table,
    format_comparisons,
    format_score_table,
    format_table1,
    format_table1_from_dict,
    write_metrics,
)
from brainuad.evaluation.scores_table import read_scores, validate_scores_frame
from brainuad.evaluation.study import (
    AgeError,
    MethodEvaluation,
    ScoreMetrics,
    StudyEvaluation,
    evaluate_method,
    evaluate_methods,
)

__all__ = [
    "METRICS",
    "PAPER_ALPHAS",
    "PAPER_GAMMAS",
    "AgeError",
    "DeLongResult",
    "GridSearchResult",
    "Interval",
    "MethodEvaluation",
    "MetricBootstrap",
    "PairedAUCTest",
    "ScoreInputError",
    "ScoreMetrics",
    "StudyEvaluation",
    "auc",
    "average_precision",
    "bca_interval",
    "bootstrap_metrics",
    "combined_score",
    "decimal_grid",
    "delong_test",
    "detection_metrics",
    "evaluate_method",
    "evaluate_methods",
    "flat_table",
    "format_comparisons",
    "format_score_table",
    "format_table1",
    "format_table1_from_dict",
    "grid_search_combined",
    "pair_count_grid",
    "paired_auc_test",
    "read_scores",
    "specificity_at_full_sensitivity",
    "stratified_resample_weights",
    "validate_scores_frame",
    "write_metrics",
]
