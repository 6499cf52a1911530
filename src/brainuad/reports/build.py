"""``write_report``: turn a results folder into ``report/report.html`` + figures + tables.

The whole report folder is written into a temporary folder and swapped in at the end
(:func:`brainuad.io.atomic.atomic_dir`), so a failure leaves no half-written report.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from brainuad import __version__
from brainuad.errors import InputFileError
from brainuad.io.atomic import atomic_dir, write_text_atomic
from brainuad.reports import doubts, images, plots, tables, training
from brainuad.reports.artefacts import ResultsFolder, load_results
from brainuad.reports.comparability import with_comparability
from brainuad.reports.html import (
    Section,
    esc,
    figure_html,
    kv_table,
    method_html,
    render_page,
    table_html,
)
from brainuad.reports.localisation import localisation_sections

REPORT_NAME = "report.html"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "–"
    if s < 60:
        return f"{s:.1f} s"
    h, rest = divmod(int(round(s)), 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


class _Writer:
    """Collects sections while writing figures and tables into the report folder."""

    def __init__(self, results: ResultsFolder, folder: Path) -> None:
        self.r, self.figs, self.tabs = results, folder / "figures", folder / "tables"
        self.figs.mkdir(parents=True)
        self.tabs.mkdir(parents=True)
        self.conf = 100 * float(results.metrics["settings"].get("confidence", 0.95))

    def figure(self, fig: Any, name: str, alt: str, caption: str = "") -> str:
        return figure_html(plots.save_figure(fig, self.figs, _safe(name)), alt, caption)

    def table(self, table: tables.ReportTable) -> str:
        table.write(self.tabs)
        return table_html(table)

    def results_sections(self) -> list[Section]:
        m = self.r.metrics
        lead = (
            '<p class="lead"><b>Headline score: the combined score</b> '
            "α·L<sub>rec</sub> + β·L<sub>KL</sub> + γ·L<sub>age</sub> of each method, with the "
            "weights chosen on the validation split (as in the paper's Table 1); all values on "
            f"the test split with {self.conf:g}% BCa bootstrap CIs in brackets.</p>"
        )
        t1_table = tables.table1(m)
        paired = doubts.paired_caption(m, plain=True)
        extra = " ".join(x for x in (self._checkpoint_note(), paired) if x)
        if extra:
            t1_table = replace(t1_table, caption=f"{t1_table.caption} {extra}")
        t1 = doubts.warnings_html(m) + lead + self.table(t1_table)
        t1 += "<h3>All anomaly scores</h3>" + self.table(tables.scores_table(m))
        fig2 = self.figure(
            plots.figure2(m),
            "figure2",
            "Figure 2: test AUC of each anomaly score per method",
            f"Test AUC of each anomaly score, {self.conf:g}% BCa CIs as error bars. Methods "
            "without an age head have no L<sub>age</sub> (N/A).",
        )
        curves = self.figure(
            plots.roc_pr_figure(m, self.r.scores),
            "roc_pr",
            "ROC and precision-recall curves of the combined score",
            "Curves of the combined score on the test split (weights in the table below); AUC "
            "and AUPRC in the legends are the values of metrics.json.",
        )
        age_fig = plots.age_scatter_figure(m, self.r.scores)
        age_table = doubts.brain_age_table(m)
        age = "" if age_table is None else self.table(age_table)
        age += (
            self.figure(
                age_fig,
                "age_scatter",
                "Predicted versus chronological age",
                "Test subjects; dashed line: identity. MAE = mean ± SD of |predicted − "
                "chronological age| (metrics.json).",
            )
            if age_fig is not None
            else ""
        )
        age_notes: tuple[str, ...] = ()
        if age_fig is None:
            with_head = [e for e in m["methods"] if e.get("mae_n")]
            age_notes = (
                "No predicted ages (age_pred) in the scores of the methods with an age head."
                if with_head
                else "No method with an age head.",
            )
        comp = tables.comparisons_table(m)
        comp_html = self.table(comp)
        comp_notes: tuple[str, ...] = ()
        if comp.display.empty:
            comp_html = ""
            skipped = comp.caption.split("Not compared: ")[-1] if "Not" in comp.caption else ""
            comp_notes = (f"No paired comparisons in metrics.json. {skipped}".strip(),)
        return [
            Section("table1", "Table 1", t1),
            Section("figure2", "Figure 2", fig2),
            Section("curves", "ROC and PR curves", curves, tuple(self.r.notes["curves"])),
            Section("age", "Brain age", age, age_notes),
            Section("weights", "Combined weights", self.table(tables.weights_table(m))),
            Section("comparisons", "Paired tests", comp_html, comp_notes),
        ]

    def _checkpoint_note(self) -> str:
        """Which checkpoint was scored (``checkpoint:`` of config.yaml; ``last`` by default)."""
        import yaml

        try:
            doc = yaml.safe_load(self.r.config_text or "") or {}
        except yaml.YAMLError:
            return ""
        which = doc.get("checkpoint", "last") if isinstance(doc, dict) else "last"
        what = {
            "last": "the weights after the last epoch, as the paper scores its models after a "
            "fixed number of epochs",
            "best": "the weights of the epoch with the lowest validation loss",
        }.get(str(which), str(which))
        return f"Scored checkpoint: {which}, {what}."

    def example_section(self) -> Section:
        body = ""
        for entry in self.r.methods:
            ex = self.r.examples.get(entry["method"])
            if ex is None:
                continue
            body += f"<h3>{method_html(ex.method)}</h3>" + self.figure(
                images.examples_figure(ex),
                f"examples_{ex.method}",
                f"Example slices of {tables.method_label(ex.method)}",
                "Per plane: input, reconstruction, and the residual |input − reconstruction| "
                "inside the brain mask as a heat map on the input (shared colour scale).",
            )
        return Section("examples", "Example slices", body, tuple(self.r.notes["examples"]))

    def training_section(self) -> Section:
        fig = training.training_figure(self.r.logs)
        notes = list(self.r.notes["training"])
        if fig is None:
            if self.r.logs:
                notes.append("The training logs have no loss columns.")
            return Section("training", "Training curves", "", tuple(notes))
        body = self.figure(fig, "training_curves", "Training curves", "From runs/*/log.csv.")
        return Section("training", "Training curves", body, tuple(notes))

    def cohort_section(self) -> Section:
        body = "" if self.r.splits is None else self.table(tables.cohort_table(self.r.splits))
        return Section("cohort", "Cohort", body, tuple(self.r.notes["cohort"]))

    def config_section(self) -> Section:
        text = self.r.config_text
        body = "" if text is None else f"<p class='caption'>config.yaml</p><pre>{esc(text)}</pre>"
        return Section("config", "Configuration", body, tuple(self.r.notes["config"]))

    def run_section(self) -> Section:
        state = self.r.run_state
        if state is None:
            return Section("run", "Run", "", tuple(self.r.notes["run"]))
        body = ""
        stages = state.get("stages")
        if isinstance(stages, dict) and stages:
            pairs = []
            for name, info in stages.items():
                info = info if isinstance(info, dict) else {"value": info}
                extra = ", ".join(
                    f"{k}={v}" for k, v in info.items() if k not in ("seconds", "finished")
                )
                done = info.get("finished", "–")
                pairs.append((str(name), f"{_duration(info.get('seconds'))} (finished {done})"))
                if extra:
                    pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]}; {extra}")
            body += "<h3>Stage timings</h3>" + kv_table(pairs, ("Stage", "Time"))
        versions = state.get("versions")
        if isinstance(versions, dict) and versions:
            pairs = [(str(k), str(v)) for k, v in versions.items()]
            body += "<h3>Versions</h3>" + kv_table(pairs, ("Package", "Version"))
        rest = {k: v for k, v in state.items() if k not in ("stages", "versions")}
        if rest:
            dump = json.dumps(rest, indent=2, sort_keys=True, default=str)
            body += f"<h3>Other run state</h3><pre>{esc(dump)}</pre>"
        return Section("run", "Run", body, tuple(self.r.notes["run"]))

    def page(self) -> str:
        sections = [
            *self.results_sections(),
            *localisation_sections(self.r.metrics, self.r.root, self.table, self.figure),
            self.example_section(),
            self.training_section(),
            self.cohort_section(),
            self.config_section(),
            self.run_section(),
        ]
        sections = with_comparability(sections, self.r.root)
        s = self.r.metrics["settings"]
        names = ", ".join(method_html(m["method"]) for m in self.r.methods)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        subtitle = [
            f"Results: <code>{esc(self.r.root.resolve())}</code>",
            f"Methods: {names} &middot; {s.get('n_resamples', '?')} BCa bootstrap resamples, "
            f"{self.conf:g}% CIs &middot; generated {now} by brainuad {esc(__version__)}",
        ]
        footer = (
            "Bengs, Behrendt et al., Unsupervised Anomaly Detection in 3D Brain MRI using Deep "
            "Learning with Multi-Task Brain Age Prediction (SPIE Medical Imaging 2022). "
            "This page is self-contained: figures are embedded, nothing is loaded from outside."
        )
        title = "Brain MRI anomaly detection report"
        return render_page(title, subtitle, sections, footer)


def _umask() -> int:
    """The process umask, read without changing it (Linux ``/proc``; 0o022 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _publish_modes(folder: Path) -> None:
    """Temporary files and folders are private (0600/0700); give them the usual modes."""
    mask = _umask()
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _check_out(out: Path, root: Path) -> None:
    out_r, root_r = out.resolve(), root.resolve()
    if out_r == root_r or out_r in root_r.parents:
        raise InputFileError(out, "expected a report folder outside the results' parents")
    if out.exists() and not out.is_dir():
        raise InputFileError(out, "expected a folder for the report, found a file")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_NAME).is_file():
        raise InputFileError(
            out, f"expected an empty folder or a previous report ({REPORT_NAME}), found other files"
        )


def write_report(results_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report of a results folder; return the path of ``report.html``.

    ``out_dir`` defaults to ``RESULTS/report``; it is replaced as a whole (atomically). Raises
    :class:`~brainuad.errors.InputFileError` if ``metrics.json`` or a scores table is missing.
    """
    results = load_results(results_dir)
    out = Path(out_dir) if out_dir is not None else results.root / "report"
    _check_out(out, results.root)
    with atomic_dir(out) as tmp:
        writer = _Writer(results, tmp)
        write_text_atomic(tmp / REPORT_NAME, writer.page())
        _publish_modes(tmp)
    return out / REPORT_NAME
