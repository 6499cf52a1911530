"""Reports: a self-contained HTML page, figures (PNG + PDF) and tables (CSV + Markdown).

Reads only saved artefacts of a results folder (``metrics.json``, ``scores/``, and optionally
``examples/``, ``runs/``, ``splits.csv``, ``config.yaml``, ``run_state.json``); never imports
torch. Entry point: :func:`write_report` (``brainuad report RESULTS_DIR``).

- :mod:`~brainuad.reports.artefacts`: reading and checking the results folder.
- :mod:`~brainuad.reports.tables`: Table 1, per-score metrics, weights, paired tests, cohort.
- :mod:`~brainuad.reports.plots`: Figure 2, ROC/PR curves, predicted vs chronological age.
- :mod:`~brainuad.reports.images`: example slices with residual heat maps, training curves.
- :mod:`~brainuad.reports.html`: the page's HTML and CSS.
- :mod:`~brainuad.reports.build`: :func:`write_report`.
"""

from brainuad.reports.artefacts import ExampleSlices, ResultsFolder, load_metrics, load_results
from brainuad.reports.build import REPORT_NAME, write_report

__all__ = [
    "REPORT_NAME",
    "ExampleSlices",
    "ResultsFolder",
    "load_metrics",
    "load_results",
    "write_report",
]
