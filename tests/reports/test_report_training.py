"""Training curves: each quantity on its own axis; throughput and flags never drawn."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from report_fixtures import write_log

from brainuad.reports.training import has_loss, term_columns, training_figure


def _labels(ax) -> list[str]:  # type: ignore[no-untyped-def]
    return [line.get_label() for line in ax.get_lines()]


def test_age_mae_rec_and_kl_get_their_own_axes(tmp_path: Path) -> None:
    logs = {}
    for method in ("vae", "vae-ap"):
        write_log(tmp_path / f"{method}.csv", method)
        logs[method] = pd.read_csv(tmp_path / f"{method}.csv")
    fig = training_figure(logs)
    assert fig is not None
    axes = fig.axes
    # 2 rows x 3 panels + one twin (KL) axis per row; the vae row's age panel is switched off
    assert len(axes) == 8
    drawn = [label for ax in axes for label in _labels(ax)]
    assert not any("volumes" in lab or "best" in lab or "lr" in lab for lab in drawn)
    rec_axes = [ax for ax in axes if any("L_{rec}" in lab for lab in _labels(ax))]
    kl_axes = [ax for ax in axes if any("L_{KL}" in lab for lab in _labels(ax))]
    assert len(rec_axes) == len(kl_axes) == 2 and not set(rec_axes) & set(kl_axes)
    age_axes = [ax for ax in axes if any("age MAE" in lab for lab in _labels(ax))]
    assert len(age_axes) == 1  # only vae-ap has an age head
    assert "years" in age_axes[0].get_ylabel()
    assert "val, predicting the training mean" in _labels(age_axes[0])
    assert age_axes[0].get_ylim()[1] < 25  # years, not the scale of a loss


def test_term_columns_read_engine_and_bare_columns() -> None:
    log = pd.DataFrame({"epoch": [1, 2], "train_loss": [3.0, 2.0], "kl": [1.0, 0.5]})
    assert has_loss(log)
    assert list(term_columns(log, "kl")) == ["train"]
    assert term_columns(log, "age") == {}
    assert not has_loss(pd.DataFrame({"epoch": [1], "lr": [0.1]}))
    assert training_figure({"vae": pd.DataFrame({"epoch": [1], "lr": [0.1]})}) is None
