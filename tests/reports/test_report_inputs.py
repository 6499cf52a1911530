"""Report inputs: optional artefacts missing, required ones missing, atomic output, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import copy_results

from brainuad.cli.main import main
from brainuad.errors import InputFileError
from brainuad.reports import load_results, write_report
from brainuad.reports import plots as report_plots


def test_report_cli_without_optional_artefacts_writes_notes(
    minimal_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(minimal_results)]) == 0
    printed = capsys.readouterr().out.strip()
    html_path = minimal_results / "report" / "report.html"
    assert printed == str(html_path) and html_path.is_file()
    html = html_path.read_text(encoding="utf-8")
    for note in (
        "No examples/ folder in the results: example slices omitted.",
        "No runs/ folder in the results: training curves omitted.",
        "No run_state.json in the results folder.",
        "No splits.csv in the results folder.",
        "No config.yaml in the results folder.",
    ):
        assert f'<p class="note">{note}</p>' in html
    figures = sorted(p.stem for p in (minimal_results / "report" / "figures").glob("*.pdf"))
    assert figures == ["age_scatter", "figure2", "roc_pr"]
    assert not (minimal_results / "report" / "tables" / "cohort.csv").exists()
    assert html.count("<img ") == 3


def test_report_unreadable_optional_artefacts_become_notes(minimal_results: Path) -> None:
    (minimal_results / "examples").mkdir()
    (minimal_results / "examples" / "vae.npz").write_bytes(b"not a zip file")
    (minimal_results / "run_state.json").write_text("{broken", encoding="utf-8")
    (minimal_results / "runs" / "vae").mkdir(parents=True)
    (minimal_results / "runs" / "vae" / "log.csv").write_text("epoch,lr\n1,0.1\n")
    results = load_results(minimal_results)
    assert results.examples == {} and results.run_state is None
    assert any("examples/vae.npz could not be read" in n for n in results.notes["examples"])
    assert any("run_state.json could not be read" in n for n in results.notes["run"])
    assert "No example slices for vae-ap (examples/vae-ap.npz)." in results.notes["examples"]
    assert "No training log for vae-ap (runs/vae-ap/log.csv)." in results.notes["training"]
    assert list(results.logs) == ["vae"]  # readable, but without loss columns


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        ("metrics.json", "metrics.json"),
        ("scores", "scores"),
        ("scores/vae-ap.csv", "vae-ap.csv"),
    ],
)
def test_report_missing_required_artefact_is_a_one_line_error(
    minimal_results: Path, remove: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = minimal_results / remove
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    else:
        path.unlink()
    with pytest.raises(InputFileError) as info:
        write_report(minimal_results)
    assert info.value.path.name == named and "\n" not in str(info.value)
    assert main(["report", str(minimal_results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err and err.count("\n") == 1
    assert not (minimal_results / "report").exists()


def test_report_rejects_malformed_metrics_json(minimal_results: Path) -> None:
    metrics = minimal_results / "metrics.json"
    metrics.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"metrics\.json: expected a JSON document"):
        write_report(minimal_results)
    metrics.write_text(json.dumps({"schema": "other/2", "methods": []}), encoding="utf-8")
    with pytest.raises(InputFileError, match=r"expected schema 'brainuad-metrics/1'"):
        write_report(minimal_results)


def test_report_failure_leaves_previous_report_untouched(
    minimal_results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = minimal_results / "report"
    out.mkdir()
    (out / "report.html").write_text("previous", encoding="utf-8")

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report_plots, "figure2", boom)
    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(minimal_results)
    assert (out / "report.html").read_text(encoding="utf-8") == "previous"
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
    assert not [p for p in minimal_results.iterdir() if p.name.startswith(".report")]


def test_report_out_option_and_refusals(results_dir: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "busy"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputFileError, match="expected an empty folder or a previous report"):
        write_report(results_dir, foreign)
    with pytest.raises(InputFileError, match="outside the results"):
        write_report(results_dir, results_dir)
    assert (foreign / "keep.txt").read_text(encoding="utf-8") == "mine"
    with pytest.raises(InputFileError, match="expected a results folder"):
        write_report(tmp_path / "nowhere")


def test_report_reads_method_names_other_than_the_defaults(
    results_dir: Path, tmp_path: Path
) -> None:
    root = copy_results(results_dir, tmp_path / "R")
    doc = json.loads((root / "metrics.json").read_text())
    doc["methods"] = [m for m in doc["methods"] if m["method"] == "vae-ap"]
    doc["methods"][0]["method"] = "VAE-a_p"
    doc["comparisons"] = []
    (root / "metrics.json").write_text(json.dumps(doc))
    (root / "scores" / "vae-ap.csv").rename(root / "scores" / "VAE-a_p.csv")
    results = load_results(root)
    assert list(results.scores) == ["VAE-a_p"] and results.examples == {}
    assert results.notes["examples"] == ["No example slices for VAE-a_p (examples/VAE-a_p.npz)."]


def test_report_modules_do_not_import_torch() -> None:
    code = (
        "import sys; import brainuad.reports, brainuad.cli.report; "
        "from brainuad.reports import build, images, plots; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_report_scores_must_match_the_chosen_weights(minimal_results: Path) -> None:
    path = minimal_results / "scores" / "vae-ap.csv"
    frame = pd.read_csv(path)
    gamma = json.loads((minimal_results / "metrics.json").read_text())["methods"][1]["weights"]
    assert gamma["gamma"] > 0
    frame[["age_pred", "age_abs_error"]] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(InputFileError, match=r"vae-ap\.csv: expected age_abs_error .* gamma = "):
        load_results(minimal_results)


def test_report_notes_scores_that_differ_from_metrics(minimal_results: Path) -> None:
    path = minimal_results / "scores" / "vae.csv"
    frame = pd.read_csv(path)
    frame.drop(index=frame.index[frame["split"] == "test"][:2]).to_csv(path, index=False)
    results = load_results(minimal_results)
    assert results.notes["curves"] == [
        "scores/vae.csv has 28 normal and 15 anomalous test subjects, metrics.json 30 and 15: "
        "the curves may not match the metrics."
    ]


def test_report_age_scatter_needs_predicted_ages(minimal_results: Path) -> None:
    results = load_results(minimal_results)
    assert report_plots.age_scatter_figure(results.metrics, results.scores) is not None
    for frame in results.scores.values():
        frame["age_pred"] = np.nan
    assert report_plots.age_scatter_figure(results.metrics, results.scores) is None
