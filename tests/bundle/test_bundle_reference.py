"""Percentiles, operating points and the choice of the method to export (pure logic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainuad.bundle import CombinedWeights, Reference, choose_best_method, operating_points
from brainuad.bundle.reference import sens100_threshold, specificity_threshold
from brainuad.errors import ConfigError


def test_bundle_percentile_counts_ties_as_below_or_equal() -> None:
    ref = Reference.from_table(pd.DataFrame({"rec": [1.0, 2.0, 2.0, 3.0], "kl": [1, 2, 3, 4]}))
    assert ref.percentile("rec", 0.5) == 0.0
    assert ref.percentile("rec", 1.0) == 25.0  # equal to the lowest: counted
    assert ref.percentile("rec", 2.0) == 75.0  # both tied values counted
    assert ref.percentile("rec", 2.5) == 75.0
    assert ref.percentile("rec", 3.0) == 100.0
    assert ref.percentile("rec", None) is None
    assert ref.percentile("combined", 1.0) is None  # no such column
    assert ref.percentile("age", 1.0) is None


def test_bundle_spec95_threshold_leaves_95_percent_below() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 3, 19, 20, 21, 80, 101):
        healthy = np.round(rng.normal(size=n), 1)  # with ties
        t = specificity_threshold(healthy)
        assert np.mean(healthy < t) >= 0.95
        # the smallest such threshold: the next float down leaves fewer than 95% below it
        assert np.mean(healthy < np.nextafter(t, -np.inf)) < 0.95
    # n = 20: the 19th smallest value is the last one left below
    h = np.arange(20.0)
    assert specificity_threshold(h) == np.nextafter(18.0, np.inf)
    assert np.mean(h >= specificity_threshold(h)) == 0.05


def test_bundle_sens100_flags_every_anomalous_subject() -> None:
    scores = np.array([1.0, 5.0, 3.0, 4.0, 2.0])
    labels = np.array([0, 1, 0, 1, 0])
    t = sens100_threshold(scores, labels)
    assert t == 4.0
    sens, spec = operating_points(scores, labels)
    assert sens.name == "sens100" and spec.name == "spec95"
    assert sens.val_sensitivity == 1.0 and sens.val_specificity == 1.0
    assert sens.flags(4.0) and not sens.flags(3.999)
    assert spec.val_specificity == 1.0  # 3 healthy: the threshold lies above all of them
    assert not spec.flags(3.0) and spec.flags(3.0000001)


def test_bundle_operating_points_report_test_rates() -> None:
    val = np.array([0.1, 0.2, 0.3, 0.9, 0.8])
    val_y = np.array([0, 0, 0, 1, 1])
    test = np.array([0.1, 0.85, 0.5, 0.7])
    test_y = np.array([0, 0, 1, 1])
    sens, spec = operating_points(val, val_y, test, test_y)
    assert sens.threshold == 0.8
    assert sens.test_sensitivity == 0.0 and sens.test_specificity == 0.5
    assert spec.test_sensitivity == 1.0 and spec.test_specificity == 0.5
    with pytest.raises(ValueError, match="no anomalous"):
        operating_points(val[:3], val_y[:3])


def test_bundle_combined_weights_need_only_nonzero_terms() -> None:
    w = CombinedWeights(alpha=0.0, beta=1.0, gamma=2.5)
    assert w.needs() == ("kl", "age")
    np.testing.assert_array_equal(w.combine([9.0], [2.0], [1.0]), [4.5])
    with pytest.raises(ConfigError):
        w.combine([1.0], [1.0], None)
    assert CombinedWeights.from_dict(w.to_dict()) == w


def _metrics(*entries: tuple[str, float, float]) -> dict:
    """metrics.json stand-in: (method, validation AUC of the grid search, test AUC)."""
    return {
        "methods": [
            {
                "method": m,
                "weights": {"val_auc": val},
                "scores": {"combined": {"auc": {"value": test}}},
            }
            for m, val, test in entries
        ]
    }


def test_bundle_best_method_by_validation_auc_then_preference() -> None:
    assert choose_best_method(_metrics(("vae", 0.9, 0.5), ("vae-ap", 0.8, 0.99))) == "vae"
    assert choose_best_method(_metrics(("vae", 0.7, 0.9), ("vae-ap", 0.8, 0.6))) == "vae-ap"
    ties = _metrics(("vae", 0.9, 0.99), ("vae-ac", 0.9, 0.5), ("vae-ap", 0.9, 0.1))
    assert choose_best_method(ties) == "vae-ap"
    assert choose_best_method(_metrics(("vae", 0.9, 0.0), ("vae-ac", 0.9, 1.0))) == "vae-ac"
    assert choose_best_method(_metrics(("x", 0.7, 0.1), ("y", 0.7, 0.9))) == "x"
    with pytest.raises(ConfigError, match="no method"):
        choose_best_method({"methods": []})
