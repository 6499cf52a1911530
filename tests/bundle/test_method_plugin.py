"""A method registered in the test process alone goes through the whole study and the bundle.

Nothing but :func:`brainuad.methods.register_method` is touched: train -> score -> evaluate ->
report -> export -> predict on the tiny phantom study of :mod:`bundle_helpers`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from bundle_helpers import run_tiny_study

from brainuad.bundle import export_bundle, load_bundle, predict_scan
from brainuad.methods import Method, default_methods, registered

THROWAWAY = Method(
    id="vae-tmp",
    label="VAE-a_tmp",
    uses_age_input=True,
    has_age_head=True,
    help="a method that exists only in this test",
)


@pytest.fixture(scope="module")
def plugin_study(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with registered(THROWAWAY):
            root = tmp_path_factory.mktemp("plugin-study")
            yield run_tiny_study(root, methods=(THROWAWAY.id,), epochs=3)
    finally:
        torch.set_num_threads(threads)


def test_a_registered_method_runs_end_to_end(plugin_study: Path, tmp_path: Path) -> None:
    from brainuad.reports import write_report

    results = plugin_study
    assert THROWAWAY.id not in default_methods()
    # train + score + evaluate
    assert (results / "runs" / "vae-tmp" / "checkpoints" / "last.safetensors").is_file()
    scores = pd.read_csv(results / "scores" / "vae-tmp.csv")
    assert scores["age_pred"].notna().all() and scores["rec"].notna().all()
    metrics = json.loads((results / "metrics.json").read_text())
    (entry,) = metrics["methods"]
    assert entry["method"] == "vae-tmp" and entry["mae_n"] and "age" in entry["scores"]
    # report: the label's subscript, whatever its length
    html = write_report(results).read_text(encoding="utf-8")
    assert "VAE-a<sub>tmp</sub>" in html
    # export (the study's own bundle and an explicit one) and predict
    assert json.loads((results / "model" / "bundle.json").read_text())["method"] == "vae-tmp"
    bundle = load_bundle(export_bundle(results, "vae-tmp", tmp_path / "b"), device="cpu")
    assert bundle.uses_age_input and bundle.has_age_head
    image = results.parent / "cohort" / "norm00.nii.gz"
    full = predict_scan(bundle, image, age=40.0)
    assert full.scores["rec"] is not None and full.scores["age"] is not None
    assert full.anomaly_map is not None
    # without the age: no reconstruction, but the head (before the latent) still gives a_p
    bare = predict_scan(bundle, image)
    assert bare.scores["rec"] is None and "needs the chronological age" in bare.unavailable["rec"]
    assert bare.age_pred == pytest.approx(full.age_pred, abs=1e-4)
    assert bare.scores["kl"] == pytest.approx(full.scores["kl"], rel=1e-5)
