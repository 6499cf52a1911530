"""preprocess_cohort: the cache, failures, incremental re-runs, atomic finalisation, extras."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from prep_phantoms import centroid_world, make_phantom, save, small_config, write_cohort

from brainuad.errors import CacheError
from brainuad.io.cache import open_cache, write_cache
from brainuad.preprocessing import load_geometry, load_lesions, preprocess_cohort
from brainuad.preprocessing import pipeline as pipeline_module
from brainuad.preprocessing.geometry import to_native_space


@pytest.fixture()
def cohort(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return write_cohort(folder, 3, bad=True, lesions=True)


def test_cohort_cache_failures_and_extras(cohort, tmp_path) -> None:
    out = tmp_path / "cache"
    report = preprocess_cohort(cohort, out, config=small_config(), jobs=2, progress=False, qc=True)
    assert (report.n_subjects, report.n_processed, report.n_reused) == (4, 3, 0)
    assert [f.subject_id for f in report.failures] == ["broken"]
    assert "not a readable NIfTI image" in report.failures[0].error
    assert "FAILED broken" in report.summary()

    cache = open_cache(out, expected_fingerprint=report.fingerprint)
    assert cache.volumes.shape == (3, 16, 19, 17)
    assert list(cache.subjects["subject_id"]) == ["sub0", "sub1", "sub2"]
    assert list(cache.subjects["age"]) == [30.0, 35.0, 40.0]
    assert {"brain_volume_ml", "reg_ok", "p50", "input_hash", "t_total"} <= set(cache.subjects)
    assert cache.settings["skull_strip"] == "none" and "SimpleITK" in cache.meta["versions"]
    with open(out / "errors.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["subject_id"] for r in rows] == ["broken"] and rows[0]["image"].endswith(".nii.gz")

    lesions = load_lesions(cache)
    geometry = load_geometry(out)
    assert lesions.shape == cache.volumes.shape and lesions.sum() > 0
    # the lesion (the phantom's marker) maps back onto the subject's scan where it was drawn
    ph = make_phantom(seed=1, shift=(2.0, -1.5, 1.0))
    back = to_native_space(lesions[1].astype(np.float32), geometry["sub1"]) > 0.5
    assert (
        np.linalg.norm(centroid_world(back, ph.affine) - centroid_world(ph.marker, ph.affine)) < 5
    )
    assert report.montage_paths and report.montage_paths[0].stat().st_size > 1000
    assert (out / "qc" / "qc.csv").exists()


def test_incremental_reruns(cohort, tmp_path) -> None:
    out = tmp_path / "cache"
    cfg = small_config()
    first = preprocess_cohort(cohort, out, config=cfg, jobs=1, progress=False)
    volumes = np.array(open_cache(out).volumes)

    again = preprocess_cohort(cohort, out, config=cfg, jobs=1, progress=False)
    assert (again.n_processed, again.n_reused) == (0, 3)
    assert np.array_equal(np.array(open_cache(out).volumes), volumes)

    # change one scan and add a subject: only those two are processed
    folder = cohort.parent
    ph = make_phantom(seed=9)
    save(folder / "sub1.nii.gz", ph.data, ph.affine)
    save(folder / "new.nii.gz", ph.data, ph.affine)
    with open(cohort, "a", encoding="utf-8") as f:
        f.write("new,new.nii.gz,61,0,\n")
    third = preprocess_cohort(cohort, out, config=cfg, jobs=1, progress=False)
    assert (third.n_processed, third.n_reused) == (2, 2)
    cache = open_cache(out)
    assert list(cache.subjects["subject_id"]) == ["sub0", "sub1", "sub2", "new"]
    assert np.array_equal(cache.volumes[0], volumes[0])
    assert not np.array_equal(cache.volumes[1], volumes[1])

    # other settings: everything is redone and the fingerprint changes
    fourth = preprocess_cohort(
        cohort, out, config=small_config(denoise=False), jobs=1, progress=False
    )
    assert (fourth.n_processed, fourth.n_reused) == (4, 0)
    assert fourth.fingerprint != first.fingerprint
    assert open_cache(out).fingerprint == fourth.fingerprint


def test_parallel_and_serial_runs_agree(cohort, tmp_path) -> None:
    a = preprocess_cohort(cohort, tmp_path / "a", config=small_config(), jobs=1, progress=False)
    b = preprocess_cohort(cohort, tmp_path / "b", config=small_config(), jobs=2, progress=False)
    assert a.fingerprint == b.fingerprint
    assert np.array_equal(
        np.array(open_cache(a.cache_dir).volumes), np.array(open_cache(b.cache_dir).volumes)
    )


def test_failed_finalisation_leaves_the_previous_cache(cohort, tmp_path, monkeypatch) -> None:
    out = tmp_path / "cache"
    cfg = small_config()
    preprocess_cohort(cohort, out, config=cfg, jobs=1, progress=False)
    before = json.loads((out / "cache.json").read_text(encoding="utf-8"))
    files_before = sorted(p.name for p in out.iterdir())

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # as if killed while writing the arrays

    monkeypatch.setattr(pipeline_module, "write_cache", boom)
    with pytest.raises(KeyboardInterrupt):
        preprocess_cohort(cohort, out, config=small_config(n4=False), jobs=1, progress=False)
    assert json.loads((out / "cache.json").read_text(encoding="utf-8")) == before
    assert sorted(p.name for p in out.iterdir()) == files_before
    assert len(open_cache(out)) == 3
    # the subjects finished before the kill are kept and reused by the next run
    monkeypatch.undo()
    resumed = preprocess_cohort(cohort, out, config=small_config(n4=False), jobs=1, progress=False)
    assert (resumed.n_processed, resumed.n_reused) == (0, 3)


def test_all_failing_writes_no_cache(tmp_path) -> None:
    (tmp_path / "x.nii.gz").write_bytes(b"junk")
    manifest = tmp_path / "m.csv"
    manifest.write_text("subject_id,image,age\nx,x.nii.gz,40\n", encoding="utf-8")
    report = preprocess_cohort(
        manifest, tmp_path / "cache", config=small_config(), jobs=1, progress=False
    )
    assert report.n_ok == 0 and len(report.failures) == 1
    assert not (tmp_path / "cache" / "cache.json").exists()


def test_extras_of_a_cache_written_elsewhere(tmp_path) -> None:
    table = pd.DataFrame({"subject_id": ["a"], "age": [40.0], "label": [0]})
    vol = np.zeros((1, 4, 4, 4), np.float32)
    write_cache(tmp_path, vol, vol.astype(np.uint8), table, {"x": 1})
    assert load_lesions(tmp_path) is None
    with pytest.raises(CacheError, match=r"cache has no geometry record; re-run"):
        load_geometry(tmp_path)
