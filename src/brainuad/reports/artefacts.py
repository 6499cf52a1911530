"""Reading a results folder (the experiment runner's output) for the report.

Only saved artefacts are read (no torch, no models)::

    RESULTS/
      metrics.json          required: schema brainuad-metrics/1 (brainuad.evaluation.report)
      scores/<method>.csv   required for every method of metrics.json
      config.yaml           optional: shown verbatim
      splits.csv            optional: subject_id, split, label, age (cohort summary)
      examples/<method>.npz optional: example mid-slices (see :class:`ExampleSlices`)
      runs/<method>/log.csv optional: training log (epoch, train_loss, val_loss, loss terms)
      run_state.json        optional: {"stages": {...}, "versions": {...}, ...}

A missing or malformed required artefact raises :class:`~brainuad.errors.InputFileError` naming
the file; a missing or unreadable optional one only adds a note to its report section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainuad.errors import InputFileError
from brainuad.evaluation.scores_table import EVAL_SPLITS, validate_scores_frame

METRICS_SCHEMA = "brainuad-metrics/1"
PLANES = ("axial", "coronal", "sagittal")
LAYERS = ("input", "recon", "residual", "mask")


@dataclass(frozen=True, eq=False)
class ExampleSlices:
    """Mid-slices of ``K`` example test subjects of one method.

    ``planes[plane][layer]`` is a ``(K, H, W)`` float32 array for the layers ``input``,
    ``recon``, ``residual`` and ``mask`` (``mask`` may be absent). Images are shown as stored,
    row 0 at the top: the writer stores them display-ready.
    """

    method: str
    subject_id: tuple[str, ...]
    label: np.ndarray
    age: np.ndarray
    planes: dict[str, dict[str, np.ndarray]]

    @property
    def n(self) -> int:
        """Number of example subjects."""
        return len(self.subject_id)


@dataclass(frozen=True, eq=False)
class ResultsFolder:
    """Everything the report shows, as read from a results folder.

    ``scores[method]`` is the validated val/test scores table (``subject_id, split, label, rec,
    kl, age, age_score``) plus ``age_pred`` (NaN without an age head). ``notes[section]`` lists
    why optional parts are missing (sections: curves, cohort, config, examples, training, run).
    """

    root: Path
    metrics: dict[str, Any]
    scores: dict[str, pd.DataFrame]
    splits: pd.DataFrame | None = None
    config_text: str | None = None
    examples: dict[str, ExampleSlices] = field(default_factory=dict)
    logs: dict[str, pd.DataFrame] = field(default_factory=dict)
    run_state: dict[str, Any] | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def methods(self) -> list[dict[str, Any]]:
        """The method entries of ``metrics.json``, in order."""
        return list(self.metrics["methods"])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"expected a JSON document, could not read it ({exc})") from exc


def _check_method_entry(entry: Any, path: Path, index: int) -> None:
    where = f"methods[{index}]"
    if not isinstance(entry, dict):
        raise InputFileError(
            path, f"expected {where} to be an object, found {type(entry).__name__}"
        )
    for key in ("method", "weights", "scores", "n_test"):
        if key not in entry:
            raise InputFileError(path, f"expected key {key!r} in {where}, not found")
    if "combined" not in entry["scores"]:
        raise InputFileError(path, f"expected the combined score in {where}.scores, not found")
    for score, metrics in entry["scores"].items():
        for metric in ("auc", "auprc", "spec100"):
            iv = metrics.get(metric) if isinstance(metrics, dict) else None
            if not isinstance(iv, dict) or not {"value", "ci_low", "ci_high"} <= set(iv):
                raise InputFileError(
                    path, f"expected {where}.scores.{score}.{metric} with value/ci_low/ci_high"
                )


def load_metrics(path: str | Path) -> dict[str, Any]:
    """Read and check ``metrics.json`` (schema ``brainuad-metrics/1``)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "expected metrics.json (run `brainuad evaluate`), not found")
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("schema") != METRICS_SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise InputFileError(path, f"expected schema {METRICS_SCHEMA!r}, found {found!r}")
    methods = doc.get("methods")
    if not isinstance(methods, list) or not methods:
        raise InputFileError(path, "expected a non-empty list 'methods', found none")
    for i, entry in enumerate(methods):
        _check_method_entry(entry, path, i)
    doc.setdefault("settings", {})
    doc.setdefault("comparisons", [])
    doc.setdefault("skipped_comparisons", [])
    return doc


def load_scores(path: str | Path, method: str) -> pd.DataFrame:
    """Read ``scores/<method>.csv``: the validated val/test rows plus ``age_pred``."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            path, f"expected the scores of method {method!r} (listed in metrics.json), not found"
        )
    try:
        raw = pd.read_csv(path, dtype={"subject_id": str, "split": str, "method": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"expected a CSV table, could not parse it ({exc})") from exc
    frame = validate_scores_frame(raw, path)
    if "split" in raw:
        keep = raw["split"].astype(str).str.strip().str.lower().isin(EVAL_SPLITS).to_numpy()
    else:  # pragma: no cover - validate_scores_frame requires the column
        keep = np.ones(len(raw), dtype=bool)
    if "age_pred" in raw:
        frame["age_pred"] = pd.to_numeric(raw.loc[keep, "age_pred"], errors="coerce").to_numpy()
    else:
        frame["age_pred"] = np.nan
    return frame


def _load_examples(path: Path, method: str) -> ExampleSlices:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    for key in ("subject_id", "label", "age"):
        if key not in arrays:
            raise ValueError(f"array {key!r} missing")
    k = arrays["subject_id"].shape[0] if arrays["subject_id"].ndim == 1 else 0
    if k == 0:
        raise ValueError("expected a 1-D subject_id array with at least one subject")
    planes: dict[str, dict[str, np.ndarray]] = {}
    for plane in PLANES:
        layers = {
            layer: np.asarray(arrays[f"{layer}_{plane}"], dtype=np.float32)
            for layer in LAYERS
            if f"{layer}_{plane}" in arrays
        }
        if not {"input", "recon", "residual"} <= set(layers):
            continue
        shapes = {a.shape for a in layers.values()}
        if len(shapes) != 1 or next(iter(shapes))[0] != k or len(next(iter(shapes))) != 3:
            raise ValueError(f"{plane} arrays must all be (K={k}, H, W), found {sorted(shapes)}")
        planes[plane] = layers
    if not planes:
        raise ValueError("no plane with input_/recon_/residual_ arrays")
    return ExampleSlices(
        method=method,
        subject_id=tuple(str(s) for s in arrays["subject_id"]),
        label=np.asarray(arrays["label"]).astype(np.int64).reshape(k),
        age=np.asarray(arrays["age"], dtype=np.float64).reshape(k),
        planes=planes,
    )


def _load_optional(root: Path, methods: list[str], notes: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"examples": {}, "logs": {}}
    cfg = root / "config.yaml"
    if cfg.is_file():
        try:
            out["config_text"] = cfg.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            notes["config"].append(f"config.yaml could not be read ({exc}).")
    else:
        notes["config"].append("No config.yaml in the results folder.")
    splits = root / "splits.csv"
    if splits.is_file():
        try:
            frame = pd.read_csv(splits, dtype={"subject_id": str, "split": str})
            missing = {"split", "label"} - set(frame.columns)
            if missing:
                raise ValueError(f"missing column(s) {', '.join(sorted(missing))}")
            out["splits"] = frame
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            notes["cohort"].append(f"splits.csv could not be read ({exc}).")
    else:
        notes["cohort"].append("No splits.csv in the results folder.")
    if not (root / "examples").is_dir():
        notes["examples"].append("No examples/ folder in the results: example slices omitted.")
    if not (root / "runs").is_dir():
        notes["training"].append("No runs/ folder in the results: training curves omitted.")
    for method in methods:
        npz = root / "examples" / f"{method}.npz"
        if npz.is_file():
            try:
                out["examples"][method] = _load_examples(npz, method)
            except (OSError, ValueError, KeyError) as exc:
                notes["examples"].append(f"examples/{method}.npz could not be read ({exc}).")
        elif (root / "examples").is_dir():
            notes["examples"].append(f"No example slices for {method} (examples/{method}.npz).")
        log = root / "runs" / method / "log.csv"
        if log.is_file():
            try:
                out["logs"][method] = pd.read_csv(log)
            except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
                notes["training"].append(f"runs/{method}/log.csv could not be read ({exc}).")
        elif (root / "runs").is_dir():
            notes["training"].append(f"No training log for {method} (runs/{method}/log.csv).")
    state = root / "run_state.json"
    if state.is_file():
        try:
            doc = _read_json(state)
            if not isinstance(doc, dict):
                raise ValueError("expected a JSON object")
            out["run_state"] = doc
        except (InputFileError, ValueError) as exc:
            notes["run"].append(f"run_state.json could not be read ({exc}).")
    else:
        notes["run"].append("No run_state.json in the results folder.")
    return out


def _check_consistent(
    root: Path, entry: dict[str, Any], frame: pd.DataFrame, notes: list[str]
) -> None:
    """The scores must allow the chosen combined score; counts differing from metrics: a note."""
    method = str(entry["method"])
    gamma = float(entry["weights"].get("gamma", 0.0))
    if gamma != 0 and not np.isfinite(frame["age_score"]).all():
        raise InputFileError(
            root / "scores" / f"{method}.csv",
            f"expected age_abs_error for every val/test subject (metrics.json weights {method} "
            f"with gamma = {gamma:g}), found it empty",
        )
    test = frame[frame["split"] == "test"]
    n_anom = int(test["label"].sum())
    want = entry["n_test"]
    if (len(test) - n_anom, n_anom) != (want.get("normal"), want.get("anomalous")):
        notes.append(
            f"scores/{method}.csv has {len(test) - n_anom} normal and {n_anom} anomalous test "
            f"subjects, metrics.json {want.get('normal')} and {want.get('anomalous')}: the "
            "curves may not match the metrics."
        )


def load_results(results_dir: str | Path) -> ResultsFolder:
    """Read a results folder; raises :class:`InputFileError` for missing required artefacts."""
    root = Path(results_dir)
    if not root.is_dir():
        raise InputFileError(root, "expected a results folder, found no such folder")
    metrics = load_metrics(root / "metrics.json")
    if not (root / "scores").is_dir():
        raise InputFileError(
            root / "scores", "expected a folder of per-method scores (scores/<method>.csv)"
        )
    names = [str(m["method"]) for m in metrics["methods"]]
    scores = {m: load_scores(root / "scores" / f"{m}.csv", m) for m in names}
    notes: dict[str, list[str]] = {
        k: [] for k in ("curves", "cohort", "config", "examples", "training", "run")
    }
    for entry in metrics["methods"]:
        _check_consistent(root, entry, scores[str(entry["method"])], notes["curves"])
    optional = _load_optional(root, names, notes)
    return ResultsFolder(root=root, metrics=metrics, scores=scores, notes=notes, **optional)
