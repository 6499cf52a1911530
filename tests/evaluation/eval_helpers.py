"""Synthetic scores tables and reference implementations shared by the evaluation tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve


def sklearn_spec100(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Reference spec100 from scikit-learn's full ROC curve: best specificity at TPR = 1."""
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights, drop_intermediate=False)
    return float(np.max(1.0 - fpr[np.isclose(tpr, 1.0, rtol=0, atol=1e-12)]))


def scores_frame(
    seed: int,
    *,
    method: str = "VAE-a_p",
    n_val: tuple[int, int] = (40, 20),
    n_test: tuple[int, int] = (60, 30),
    age: bool = True,
    shift: float = 1.0,
) -> pd.DataFrame:
    """A scores table like `brainuad score` writes (normal, anomalous counts per split)."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, counts in (("train", (5, 0)), ("val", n_val), ("test", n_test)):
        for label, count in enumerate(counts):
            for i in range(count):
                chron = float(rng.uniform(20, 80))
                err = abs(float(rng.normal(0.0, 6.0 + 6.0 * label)))
                rows.append(
                    {
                        "subject_id": f"{split}-{label}-{i}",
                        "split": split,
                        "label": label,
                        "age": chron,
                        "rec": 0.02 + 0.003 * rng.normal() + 0.002 * shift * label,
                        "kl": 500 + 50 * rng.normal() + 40 * shift * label,
                        "age_pred": chron + err if age else np.nan,
                        "age_abs_error": err if age else np.nan,
                        "method": method,
                    }
                )
    return pd.DataFrame(rows)
