"""Reading and validating the scores tables written by ``brainuad score``.

A scores table (CSV) has one row per subject and the columns ``subject_id, split, label, rec,
kl`` (required) and ``age, age_pred, age_abs_error, method`` (optional). ``label`` is 1 for
anomalous, 0 for normal; ``split`` is ``train``/``val``/``test`` (train rows are ignored).
``age_abs_error`` is the age score ``L_age``; it is empty for models without an age head (if it
is missing but ``age_pred`` and ``age`` are filled it is computed as ``|age_pred - age|``). A
file may hold several methods (by the ``method`` column; without it the method is the file's
stem).

Every problem is reported as one :class:`~brainuad.errors.InputFileError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brainuad.errors import InputFileError

REQUIRED_COLUMNS = ("subject_id", "split", "label", "rec", "kl")
OPTIONAL_COLUMNS = ("age", "age_pred", "age_abs_error", "method")
EVAL_SPLITS = ("val", "test")
SPLITS = ("train", "val", "test")


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)


def _first_ids(frame: pd.DataFrame, bad: np.ndarray) -> str:
    ids = frame["subject_id"].to_numpy()[bad][:3]
    return ", ".join(str(i) for i in ids)


def validate_scores_frame(frame: pd.DataFrame, source: str | Path = "<scores>") -> pd.DataFrame:
    """Check one method's scores table; return the val/test rows with clean dtypes.

    The result has ``subject_id`` (str), ``split``, ``label`` (int 0/1), ``rec``, ``kl``,
    ``age``, ``age_pred`` and ``age_score`` (float; ``age_pred`` and ``age_score`` all NaN for
    methods without an age head).
    Raises :class:`InputFileError` naming ``source`` on any problem.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFileError(
            source,
            f"missing column(s) {', '.join(missing)} (expected {', '.join(REQUIRED_COLUMNS)} "
            f"and optionally {', '.join(OPTIONAL_COLUMNS)})",
        )
    split = frame["split"].astype(str).str.strip().str.lower()
    bad_split = ~split.isin(SPLITS).to_numpy()
    if bad_split.any():
        found = sorted(set(frame["split"].astype(str)[bad_split]))[:3]
        raise InputFileError(source, f"expected split train/val/test, found {found}")
    rows = frame.loc[split.isin(EVAL_SPLITS).to_numpy()].copy()
    rows["split"] = split[split.isin(EVAL_SPLITS)].to_numpy()
    label = _numeric(rows, "label")
    bad = ~np.isin(label, (0.0, 1.0))
    if bad.any():
        raise InputFileError(
            source,
            f"expected label 0 or 1, found {int(bad.sum())} other value(s) "
            f"(subjects {_first_ids(rows, bad)})",
        )
    out = pd.DataFrame(
        {
            "subject_id": rows["subject_id"].astype(str).to_numpy(),
            "split": rows["split"].to_numpy(),
            "label": label.astype(np.int64),
        }
    )
    for col in ("rec", "kl"):
        values = _numeric(rows, col)
        bad = ~np.isfinite(values)
        if bad.any():
            raise InputFileError(
                source,
                f"expected finite {col} scores, found {int(bad.sum())} empty/NaN/"
                f"non-numeric (subjects {_first_ids(rows, bad)})",
            )
        out[col] = values
    out["age"] = _numeric(rows, "age") if "age" in rows else np.nan
    out["age_pred"] = _numeric(rows, "age_pred") if "age_pred" in rows else np.nan
    out["age_score"] = _age_score(rows, source)
    _check_splits(out, source)
    return out


def _age_score(rows: pd.DataFrame, source: str | Path) -> np.ndarray:
    n = len(rows)
    if "age_abs_error" in rows:
        score = _numeric(rows, "age_abs_error")
    elif "age_score" in rows:  # an already validated frame
        score = _numeric(rows, "age_score")
    else:
        score = np.full(n, np.nan)
    if np.isnan(score).all() and "age_pred" in rows and "age" in rows:
        score = np.abs(_numeric(rows, "age_pred") - _numeric(rows, "age"))
    given = np.isfinite(score)
    if given.any() and not given.all():
        raise InputFileError(
            source,
            f"expected age_abs_error for all val/test subjects or none, found it "
            f"missing for {int((~given).sum())} of {n} (subjects {_first_ids(rows, ~given)})",
        )
    if given.any() and (score < 0).any():
        raise InputFileError(source, "expected age_abs_error >= 0, found negative values")
    return score


def _check_splits(out: pd.DataFrame, source: str | Path) -> None:
    for name in EVAL_SPLITS:
        part = out[out["split"] == name]
        dup = part["subject_id"].duplicated()
        if dup.any():
            raise InputFileError(
                source,
                f"expected unique subject_id in the {name} split, found "
                f"{', '.join(part['subject_id'][dup].head(3))} more than once",
            )
        n_anom = int(part["label"].sum())
        if n_anom == 0 or n_anom == len(part):
            raise InputFileError(
                source,
                f"expected normal and anomalous subjects in the {name} split, found "
                f"{len(part) - n_anom} normal and {n_anom} anomalous",
            )


def read_scores(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read a scores CSV: ``{method: validated frame}`` (see :func:`validate_scores_frame`)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "expected a scores CSV file, found no such file")
    try:
        frame = pd.read_csv(path, dtype={"subject_id": str, "split": str, "method": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputFileError(path, f"expected a CSV table, could not parse it ({first})") from exc
    if frame.empty:
        raise InputFileError(
            path, "expected one row per scored subject, found only a header (no rows)"
        )
    if "method" not in frame.columns:
        return {path.stem: validate_scores_frame(frame, path)}
    names = frame["method"].fillna("").astype(str).str.strip()
    if (names == "").any():
        raise InputFileError(
            path, f"expected a method name on every row, found {int((names == '').sum())} empty"
        )
    return {
        str(name): validate_scores_frame(frame.loc[(names == name).to_numpy()], path)
        for name in dict.fromkeys(names)
    }
