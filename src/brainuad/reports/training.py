"""Training curves from ``runs/<method>/log.csv``: each quantity on an axis of its own scale.

Per method, one row of three panels:

1. the total loss (train solid, validation dashed), log-scaled when it spans a wide range;
2. the loss terms L_rec (left axis) and L_KL (right axis): their scales differ by orders of
   magnitude, so they never share an axis;
3. the age term of methods with an age head: the mean absolute age error in **years** (train
   and validation), with the MAE of predicting the training mean for reference when the log
   carries it; "no age head" otherwise.

Only known columns are drawn (``{train,val}_{loss,rec,kl,age}``; bare ``rec``/``kl``/``age``
columns are read as training values): throughput, learning rate or the best-epoch flag never
end up on a loss axis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from brainuad.reports.tables import method_tex

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#d62728"
REC_COLOR, KL_COLOR, AGE_COLOR = "#4C72B0", "#DD8452", "#55A868"


def _epochs(log: pd.DataFrame) -> np.ndarray:
    if "epoch" in log:
        return pd.to_numeric(log["epoch"], errors="coerce").to_numpy(dtype=np.float64)
    return np.arange(1, len(log) + 1, dtype=np.float64)


def _series(log: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in log:
        return None
    values = pd.to_numeric(log[name], errors="coerce").to_numpy(dtype=np.float64)
    return values if np.isfinite(values).any() else None


def term_columns(log: pd.DataFrame, term: str) -> dict[str, np.ndarray]:
    """``{"train": values, "val": values}`` of a logged term (``loss``, ``rec``, ``kl``, ``age``).

    A bare ``<term>`` column counts as the training value when ``train_<term>`` is absent.
    """
    out: dict[str, np.ndarray] = {}
    for split in ("train", "val"):
        values = _series(log, f"{split}_{term}")
        if values is None and split == "train" and term != "loss":
            values = _series(log, term)
        if values is not None:
            out[split] = values
    return out


def has_loss(log: pd.DataFrame) -> bool:
    """True when the log holds a total loss (``train_loss`` or ``val_loss``)."""
    return bool(term_columns(log, "loss"))


def _log_scale(ax: object, series: list[np.ndarray]) -> None:
    values = np.concatenate([s[np.isfinite(s)] for s in series]) if series else np.array([])
    if values.size and values.min() > 0 and values.max() / values.min() > 20:
        ax.set_yscale("log")  # type: ignore[attr-defined]


def _draw(ax: object, x: np.ndarray, cols: dict[str, np.ndarray], color: str, label: str) -> list:
    lines = []
    for split, values in cols.items():
        (line,) = ax.plot(  # type: ignore[attr-defined]
            x,
            values,
            lw=1.5,
            color=color,
            ls="-" if split == "train" else "--",
            label=f"{label} ({split})",
        )
        lines.append(line)
    return lines


def _loss_panel(ax: object, x: np.ndarray, log: pd.DataFrame, method: str) -> None:
    cols = term_columns(log, "loss")
    for split, values in cols.items():
        color = TRAIN_COLOR if split == "train" else VAL_COLOR
        ax.plot(x, values, lw=1.6, color=color, ls="-", label=f"{split} loss")  # type: ignore[attr-defined]
    _log_scale(ax, list(cols.values()))
    ax.set(xlabel="epoch", ylabel="total loss", title=f"{method_tex(method)}: total loss")  # type: ignore[attr-defined]
    ax.legend(fontsize=8)  # type: ignore[attr-defined]
    ax.grid(color="0.92")  # type: ignore[attr-defined]


def _terms_panel(ax: object, x: np.ndarray, log: pd.DataFrame, method: str) -> None:
    rec, kl = term_columns(log, "rec"), term_columns(log, "kl")
    if not rec and not kl:
        ax.text(0.5, 0.5, "no L_rec / L_KL columns in log.csv", ha="center", va="center")  # type: ignore[attr-defined]
        ax.set_axis_off()  # type: ignore[attr-defined]
        return
    lines = _draw(ax, x, rec, REC_COLOR, "$L_{rec}$")
    ax.set_ylabel("$L_{rec}$", color=REC_COLOR)  # type: ignore[attr-defined]
    _log_scale(ax, list(rec.values()))
    if kl:
        right = ax.twinx()  # type: ignore[attr-defined]
        lines += _draw(right, x, kl, KL_COLOR, "$L_{KL}$")
        right.set_ylabel("$L_{KL}$", color=KL_COLOR)
        _log_scale(right, list(kl.values()))
    ax.set(xlabel="epoch", title=f"{method_tex(method)}: loss terms")  # type: ignore[attr-defined]
    ax.legend(handles=lines, fontsize=7, ncols=2)  # type: ignore[attr-defined]
    ax.grid(color="0.92")  # type: ignore[attr-defined]


def _age_panel(ax: object, x: np.ndarray, log: pd.DataFrame, method: str) -> None:
    age = term_columns(log, "age")
    if not age:
        ax.text(0.5, 0.5, "no age head", ha="center", va="center", color="0.4")  # type: ignore[attr-defined]
        ax.set_axis_off()  # type: ignore[attr-defined]
        return
    for split, values in age.items():
        color = TRAIN_COLOR if split == "train" else VAL_COLOR
        ls = "-" if split == "train" else "--"
        ax.plot(x, values, lw=1.6, color=color, ls=ls, label=f"{split} age MAE")  # type: ignore[attr-defined]
    base = _series(log, "val_age_mean_pred")
    if base is not None:
        ax.plot(  # type: ignore[attr-defined]
            x, base, lw=1.0, color="0.45", ls=":", label="val, predicting the training mean"
        )
    if "val" in age and np.isfinite(age["val"]).any():
        last = age["val"][np.isfinite(age["val"])][-1]
        ax.annotate(  # type: ignore[attr-defined]
            f"{last:.1f} y", (x[np.isfinite(age["val"])][-1], last), fontsize=7, color=VAL_COLOR
        )
    ax.set(  # type: ignore[attr-defined]
        xlabel="epoch",
        ylabel="|predicted − chronological age| (years)",
        title=f"{method_tex(method)}: age term",
    )
    ax.set_ylim(bottom=0)  # type: ignore[attr-defined]
    ax.legend(fontsize=8)  # type: ignore[attr-defined]
    ax.grid(color="0.92")  # type: ignore[attr-defined]


def training_figure(logs: dict[str, pd.DataFrame]) -> Figure | None:
    """The training curves of every method whose log has a total loss (module docstring)."""
    usable = {m: log for m, log in logs.items() if has_loss(log)}
    if not usable:
        return None
    height = 2.9 * len(usable) + 0.2
    fig = Figure(figsize=(13.5, height))  # fixed margins (inches): faster than a layout engine
    axes = fig.subplots(
        len(usable),
        3,
        squeeze=False,
        gridspec_kw={
            "left": 0.06,
            "right": 0.985,
            "top": 1 - 0.3 / height,
            "bottom": 0.5 / height,
            "hspace": 1.0 / 2.9,
            "wspace": 0.33,
        },
    )
    for row, (method, log) in enumerate(usable.items()):
        x = _epochs(log)
        _loss_panel(axes[row, 0], x, log, method)
        _terms_panel(axes[row, 1], x, log, method)
        _age_panel(axes[row, 2], x, log, method)
    return fig
