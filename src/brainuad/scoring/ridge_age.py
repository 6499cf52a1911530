"""A reference brain-age predictor that needs no network: ridge regression on the voxels.

It answers "how much age signal do these preprocessed volumes hold?", so that VAE-a_p's age
head can be judged against it (the report prints both MAE_N). The model is scikit-learn's
:class:`~sklearn.linear_model.RidgeCV` on the intensities of the 64x77x66 model-space volumes,
restricted to the voxels inside any healthy training subject's brain mask, with the penalty
chosen by efficient leave-one-out cross-validation on the healthy training subjects over
:data:`DEFAULT_ALPHAS`. With far fewer subjects than voxels, the fit works in the dual (the
subjects' Gram matrix), so it takes seconds even for a full cohort.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from brainuad.errors import CacheError
from brainuad.io.cache import Cache

#: ridge penalties searched by leave-one-out cross-validation
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 5, 13))
METHOD_NAME = "ridge"


class RidgeBrainAge:
    """Ridge regression of age on voxel intensities (scikit-learn conventions).

    Attributes (after :meth:`fit`): ``voxels_`` (flat indices of the voxels used), ``alpha_``
    (the penalty chosen by leave-one-out CV), ``model_`` (the fitted ``RidgeCV``).
    """

    def __init__(self, alphas: Sequence[float] = DEFAULT_ALPHAS) -> None:
        self.alphas = tuple(float(a) for a in alphas)

    def fit(
        self, volumes: np.ndarray, ages: ArrayLike, masks: np.ndarray | None = None
    ) -> RidgeBrainAge:
        """Fit on volumes (N, X, Y, Z) and ages (N,) in years; ``masks`` select the voxels."""
        from sklearn.linear_model import RidgeCV

        y = np.asarray(ages, dtype=np.float64)
        if len(y) < 3 or not np.isfinite(y).all():
            raise ValueError(f"ridge brain age needs >= 3 subjects with ages, found {len(y)}")
        flat_masks = None if masks is None else np.asarray(masks).reshape(len(y), -1) > 0
        self.voxels_ = (
            np.arange(int(np.prod(volumes.shape[1:])))
            if flat_masks is None
            else np.flatnonzero(flat_masks.any(axis=0))
        )
        self.model_ = RidgeCV(alphas=self.alphas).fit(self._features(volumes), y)
        self.alpha_ = float(self.model_.alpha_)
        return self

    def _features(self, volumes: np.ndarray) -> np.ndarray:
        flat = np.asarray(volumes, dtype=np.float32).reshape(len(volumes), -1)
        return flat[:, self.voxels_].astype(np.float64)

    def predict(self, volumes: np.ndarray) -> np.ndarray:
        """Predicted ages (years) of volumes (N, X, Y, Z)."""
        return self.model_.predict(self._features(volumes))


def ridge_age_table(cache: Cache, *, batch_size: int = 32) -> pd.DataFrame:
    """Fit :class:`RidgeBrainAge` on the cache's healthy training subjects and predict the val
    and test subjects: ``subject_id, split, label, age, age_pred, age_abs_error, method``.

    Raises :class:`~brainuad.errors.CacheError` when fewer than 3 healthy training subjects
    have an age.
    """
    subjects = cache.subjects
    ages = pd.to_numeric(subjects["age"], errors="coerce").to_numpy(dtype=np.float64)
    train = cache.indices(split="train", label=0)
    train = train[np.isfinite(ages[train])]
    if len(train) < 3:
        raise CacheError(
            f"{cache.root}: the ridge brain-age reference needs at least 3 healthy training "
            f"subjects with an age, found {len(train)}"
        )
    model = RidgeBrainAge().fit(cache.volumes[train], ages[train], cache.masks[train])
    idx = np.concatenate([cache.indices(split="val"), cache.indices(split="test")])
    preds = np.concatenate(
        [
            model.predict(cache.volumes[idx[i : i + batch_size]])
            for i in range(0, len(idx), batch_size)
        ]
        or [np.zeros(0)]
    )
    table = pd.DataFrame(
        {
            "subject_id": subjects["subject_id"].iloc[idx].astype(str).to_numpy(),
            "split": subjects["split"].iloc[idx].astype(str).to_numpy(),
            "label": subjects["label"].iloc[idx].astype(int).to_numpy(),
            "age": ages[idx],
            "age_pred": preds,
        }
    )
    table["age_abs_error"] = (table["age_pred"] - table["age"]).abs()
    table["method"] = METHOD_NAME
    table.attrs["alpha"] = model.alpha_
    return table
