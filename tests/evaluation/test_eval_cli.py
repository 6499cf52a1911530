"""``brainuad evaluate``: outputs, Table 1, and one-line errors naming the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from eval_helpers import scores_frame

from brainuad.cli.main import main

FAST = ["--n-resamples", "200", "--alpha-grid", "0:2:0.1", "--gamma-grid", "0:20:1"]


def _files(tmp_path: Path) -> list[Path]:
    paths = []
    for seed, method, age in ((0, "VAE", False), (1, "VAE-a_p", True)):
        path = tmp_path / f"{method}.csv"
        scores_frame(seed, method=method, age=age).to_csv(path, index=False)
        paths.append(path)
    return paths


def test_evaluate_writes_json_csv_and_prints_table1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res" / "metrics.json"
    args = ["evaluate", *map(str, _files(tmp_path)), "--out", str(out), *FAST]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Method" in text and "AUC (%)" in text and "Specificity(100%) (%)" in text
    row = next(line for line in text.splitlines() if line.startswith("VAE-a_p "))
    assert re.search(r"\d+\.\d\d \(\d+, \d+\)", row) and "±" in row
    assert re.search(r"^VAE .*N/A\s+N/A$", text, flags=re.M)
    assert "VAE vs VAE-a_p: dAUC" in text
    doc = json.loads(out.read_text())
    assert doc["schema"] == "brainuad-metrics/1" and doc["settings"]["n_resamples"] == 200
    assert [m["method"] for m in doc["methods"]] == ["VAE", "VAE-a_p"]
    assert doc["methods"][1]["weights"]["alpha_grid"]["n"] == 21
    assert set(doc["methods"][1]["scores"]) == {"rec", "kl", "age", "combined", "age_bc"}
    assert doc["methods"][0]["mae_n"] is None and doc["methods"][1]["mae_a"]["n"] == 30
    table = pd.read_csv(out.with_suffix(".csv"))
    assert len(table) == 3 + 5 and {"auc_ci_low", "spec100", "mae_a_sd"} <= set(table.columns)
    headline = table[table.headline & (table.method == "VAE-a_p")].iloc[0]
    assert headline.auc == pytest.approx(doc["methods"][1]["scores"]["combined"]["auc"]["value"])


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    files = list(map(str, _files(tmp_path)))
    docs = []
    for name in ("a.json", "b.json"):
        assert main(["evaluate", *files, "--out", str(tmp_path / name), *FAST, "--seed", "3"]) == 0
        docs.append(json.loads((tmp_path / name).read_text()))
    assert docs[0]["methods"] == docs[1]["methods"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--alpha-grid", "0:2"], r"--alpha-grid: expected START:STOP:STEP"),
        (["--gamma-grid", "0:1:0.3"], r"--gamma-grid: grid: expected \(stop - start\) / step"),
        (["--confidence", "95"], r"confidence: expected a level strictly between 0 and 1"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    files = list(map(str, _files(tmp_path)))
    out = tmp_path / "m.json"
    assert main(["evaluate", *files, "--out", str(out), *extra]) == 2
    assert re.search(message, capsys.readouterr().err) and not out.exists()


def test_input_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _files(tmp_path)
    out = tmp_path / "m.json"
    missing = tmp_path / "missing.csv"
    assert main(["evaluate", str(files[0]), str(missing), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.csv" in err and len(err.splitlines()) == 1
    assert main(["evaluate", str(files[0]), str(files[0]), "--out", str(out)]) == 2
    assert "expected each method once, found 'VAE' also in" in capsys.readouterr().err
    assert main(["evaluate", str(files[0]), "--out", str(tmp_path / "m.csv")]) == 2
    assert "expected a .json path" in capsys.readouterr().err
    assert not out.exists()


def test_help_describes_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--n-resamples" in text and "BCa" in text and "--alpha-grid" in text


def test_evaluate_copies_localisation_records_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {"method": "VAE", "pooled": {"auroc": 0.8, "auprc": 0.3}, "thresholds": {}}
    good = tmp_path / "VAE_loc.json"
    good.write_text(json.dumps(record))
    out = tmp_path / "metrics.json"
    files = list(map(str, _files(tmp_path)))
    assert main(["evaluate", *files, "--out", str(out), *FAST, "--localisation", str(good)]) == 0
    assert json.loads(out.read_text())["localisation"] == {"VAE": record}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"method": "VAE"}))
    capsys.readouterr()  # the first run's output
    out2 = tmp_path / "other" / "metrics.json"
    assert main(["evaluate", *files, "--out", str(out2), *FAST, "--localisation", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}: expected a localisation record")
    assert not out2.parent.exists()
    assert not out2.exists()
