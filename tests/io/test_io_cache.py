from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainuad.errors import CacheError
from brainuad.io.cache import open_cache, settings_fingerprint, write_cache


def _subjects(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"subject_id": [f"s{i}" for i in range(n)], "age": 30.0 + np.arange(n), "label": 0}
    )


def test_write_and_open_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vols = rng.random((3, 5, 6, 7), dtype=np.float32)
    masks = (vols > 0.5).astype(np.uint8)
    cache = write_cache(tmp_path / "c", vols, masks, _subjects(3), {"a": 1}, versions={"x": "1"})
    assert cache.shape == (5, 6, 7) and len(cache) == 3
    np.testing.assert_array_equal(cache.volumes, vols)
    np.testing.assert_array_equal(cache.masks, masks)
    assert isinstance(cache.volumes, np.memmap)
    assert cache.fingerprint == settings_fingerprint({"a": 1})
    assert list(cache.subjects["index"]) == [0, 1, 2]
    assert cache.indices(split="").tolist() == [0, 1, 2]


def test_rewrite_replaces_files_and_removes_old_ones(tmp_path: Path) -> None:
    vols = np.ones((2, 4, 4, 4), np.float32)
    write_cache(tmp_path, vols, vols.astype(np.uint8), _subjects(2), {"a": 1})
    cache = write_cache(tmp_path, vols[:1], vols[:1].astype(np.uint8), _subjects(1), {"a": 2})
    assert len(cache) == 1
    assert len(list(tmp_path.glob("volumes-*.npy"))) == 1


def test_fingerprint_mismatch_and_missing(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="cache.json not found"):
        open_cache(tmp_path)
    vols = np.ones((1, 4, 4, 4), np.float32)
    write_cache(tmp_path, vols, vols.astype(np.uint8), _subjects(1), {"a": 1})
    with pytest.raises(CacheError, match="fingerprint .* differs"):
        open_cache(tmp_path, expected_fingerprint="0" * 16)


def test_inconsistent_cache_is_rejected(tmp_path: Path) -> None:
    vols = np.ones((2, 4, 4, 4), np.float32)
    write_cache(tmp_path, vols, vols.astype(np.uint8), _subjects(2), {})
    meta = json.loads((tmp_path / "cache.json").read_text())
    meta["n_subjects"] = 3
    (tmp_path / "cache.json").write_text(json.dumps(meta))
    with pytest.raises(CacheError, match="inconsistent cache"):
        open_cache(tmp_path)


def test_with_splits_requires_every_subject(tmp_path: Path) -> None:
    vols = np.ones((2, 4, 4, 4), np.float32)
    cache = write_cache(tmp_path, vols, vols.astype(np.uint8), _subjects(2), {})
    assert cache.with_splits({"s0": "train", "s1": "val"}).indices(split="val").tolist() == [1]
    with pytest.raises(CacheError, match="no split assigned"):
        cache.with_splits({"s0": "train"})


def test_failed_write_keeps_previous_cache(tmp_path: Path) -> None:
    vols = np.ones((2, 4, 4, 4), np.float32)
    write_cache(tmp_path, vols, vols.astype(np.uint8), _subjects(2), {"v": 1})
    bad = [np.ones((4, 4, 4), np.float32), np.ones((3, 3, 3), np.float32)]
    with pytest.raises(ValueError, match="shape"):
        write_cache(tmp_path, bad, bad, _subjects(2), {"v": 2})
    cache = open_cache(tmp_path)
    assert cache.settings == {"v": 1} and len(cache) == 2
    assert len(list(tmp_path.glob("*.npy"))) == 2
