"""Scores against hand computation: L_rec (sum of |x - x~| in the mask), L_KL, L_age, maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from brainuad.errors import CacheError, CheckpointError, ConfigError
from brainuad.io.cache import write_cache
from brainuad.io.nifti import load_volume
from brainuad.models import VAEOutput, VolumeScores
from brainuad.scoring import (
    anomaly_map,
    kl_to_standard_normal,
    score_batch,
    score_cache,
    score_run,
)
from uad_testing import SUM_RTOL

SHAPE = (6, 7, 5)


class HalfModel(nn.Module):
    """recon = x / 2, mu = mean intensity, logvar = 0, age_pred = 40 (or None)."""

    def __init__(self, with_age: bool, use_age: bool = False) -> None:
        super().__init__()
        self.with_age = with_age
        self.use_age = use_age
        self.seen_age: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, age: torch.Tensor | None = None) -> VAEOutput:
        self.seen_age = age
        b = x.shape[0]
        mu = x.mean(dim=(1, 2, 3, 4))[:, None].repeat(1, 3)
        pred = torch.full((b,), 40.0) if self.with_age else None
        return VAEOutput(x / 2, mu, torch.zeros_like(mu), pred)

    @property
    def uses_age_input(self) -> bool:
        return self.use_age

    def score(self, x: torch.Tensor, age: torch.Tensor | None = None) -> VolumeScores:
        out = self(x, age if self.use_age else None)
        return VolumeScores(out.recon, kl_to_standard_normal(out.mu, out.logvar), out.age_pred)


def _data(n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vols = rng.random((n, *SHAPE), dtype=np.float32)
    masks = (rng.random((n, *SHAPE)) > 0.3).astype(np.uint8)
    return vols, masks


def test_score_batch_matches_hand_computation() -> None:
    vols, masks = _data()
    out = score_batch(HalfModel(True), vols, masks, None)
    rec = (np.abs(vols - vols / 2) * masks).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(out.rec, rec, rtol=SUM_RTOL)
    np.testing.assert_allclose(out.rec_mean, rec / masks.sum(axis=(1, 2, 3)), rtol=SUM_RTOL)
    mu = vols.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(out.kl, 0.5 * 3 * mu**2, rtol=SUM_RTOL)
    np.testing.assert_allclose(out.age_pred, 40.0)
    assert out.residual is None


def test_kl_is_zero_for_the_prior_and_positive_otherwise() -> None:
    zeros = torch.zeros(2, 5)
    assert torch.allclose(kl_to_standard_normal(zeros, zeros), torch.zeros(2))
    assert (kl_to_standard_normal(torch.ones(2, 5), torch.full((2, 5), -1.0)) > 0).all()


def test_anomaly_map_is_zero_outside_mask_and_peaks_at_the_blob() -> None:
    res = np.zeros((20, 20, 20), np.float32)
    res[12:15, 5:8, 9:11] = 1.0
    mask = np.zeros_like(res)
    mask[2:18, 2:18, 2:18] = 1
    amap = anomaly_map(res, mask, sigma=1.0)
    assert amap[mask == 0].max() == 0
    peak = np.unravel_index(np.argmax(amap), amap.shape)
    assert res[peak] == 1.0


def _cache(tmp_path: Path, ages: list[float | None]):  # type: ignore[no-untyped-def]
    vols, masks = _data(len(ages))
    subjects = pd.DataFrame(
        {
            "subject_id": [f"s{i}" for i in range(len(ages))],
            "age": [np.nan if a is None else a for a in ages],
            "label": [0, 0, 1, 1][: len(ages)],
            "split": ["val", "test", "val", "test"][: len(ages)],
        }
    )
    return write_cache(tmp_path / "cache", vols, masks, subjects, {"k": 1}), vols, masks


def test_score_cache_table_and_maps(tmp_path: Path) -> None:
    cache, vols, masks = _cache(tmp_path, [30.0, 50.0, 70.0, 45.0])
    maps = tmp_path / "maps"
    table = score_cache(
        HalfModel(True),
        cache,
        method="m",
        batch_size=3,
        maps_dir=maps,
        progress=False,
    )
    assert list(table["subject_id"]) == ["s0", "s1", "s2", "s3"]
    np.testing.assert_allclose(table["age_abs_error"], [10.0, 10.0, 30.0, 5.0])
    rec = (np.abs(vols / 2) * masks).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(table["rec"], rec, rtol=SUM_RTOL)
    amap = load_volume(maps / "s2.nii.gz", canonical=False, allow_constant=True)
    assert amap.shape == SHAPE and np.all(amap.data[masks[2] == 0] == 0)


def test_age_is_passed_only_to_models_that_need_it(tmp_path: Path) -> None:
    cache, _, _ = _cache(tmp_path, [30.0, 50.0])
    model = HalfModel(False)
    score_cache(model, cache, method="vae", progress=False)
    assert model.seen_age is None
    model = HalfModel(False, use_age=True)
    table = score_cache(model, cache, method="vae-ac", progress=False)
    assert model.seen_age is not None and table["age_pred"].isna().all()


def test_missing_age_for_age_input_model_is_an_error(tmp_path: Path) -> None:
    cache, _, _ = _cache(tmp_path, [30.0, None])
    with pytest.raises(CacheError, match="vae-ac needs the age of every subject; missing for s1"):
        score_cache(HalfModel(False, use_age=True), cache, method="vae-ac", progress=False)


class NaNModel(HalfModel):
    """Like HalfModel, but the reconstruction of the third volume of a batch is NaN."""

    def forward(self, x: torch.Tensor, age: torch.Tensor | None = None) -> VAEOutput:
        out = super().forward(x, age)
        recon = out.recon.clone()
        if recon.shape[0] > 2:
            recon[2] = float("nan")
        return VAEOutput(recon, out.mu, out.logvar, out.age_pred)


def test_non_finite_scores_are_an_error_naming_the_subject(tmp_path: Path) -> None:
    cache, _, _ = _cache(tmp_path, [30.0, 50.0, 70.0, 45.0])
    with pytest.raises(CheckpointError, match=r"scores of subject s2 are not finite"):
        score_cache(NaNModel(True), cache, method="m", progress=False)


def _tiny_run(tmp_path: Path, fingerprint: str, nan: bool = False) -> Path:
    from brainuad.models import ModelConfig, build_model
    from brainuad.training import save_checkpoint
    from brainuad.training.checkpoint import checkpoint_path

    cfg = ModelConfig(kind="vae", input_shape=SHAPE, channels=(2, 2), n_z=2, bottleneck_channels=2)
    model = build_model(cfg, seed=0)
    if nan:
        with torch.no_grad():
            model.fc_mu.weight[0, 0] = float("nan")
    run = tmp_path / "run"
    state = {"kind": "vae", "model": cfg.to_dict(), "seed": 0, "fingerprint": fingerprint}
    save_checkpoint(checkpoint_path(run, "last"), model, state)
    return run


def test_score_run_refuses_a_cache_of_other_preprocessing(tmp_path: Path) -> None:
    cache, _, _ = _cache(tmp_path, [30.0, 50.0])
    run = _tiny_run(tmp_path, fingerprint="0123456789abcdef")
    with pytest.raises(CacheError, match=r"cache: preprocessing fingerprint .* run .* trained on"):
        score_run(run, cache, split="all", progress=False)
    ok = _tiny_run(tmp_path, fingerprint=cache.fingerprint)
    assert len(score_run(ok, cache, split="all", progress=False)) == 2


def test_score_run_with_nan_weights_names_the_subject(tmp_path: Path) -> None:
    cache, _, _ = _cache(tmp_path, [30.0, 50.0])
    run = _tiny_run(tmp_path, fingerprint=cache.fingerprint, nan=True)
    with pytest.raises(CheckpointError, match=r"scores of subject s0 are not finite"):
        score_run(run, cache, split="all", progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_score_on_a_missing_gpu_is_a_config_error(tmp_path: Path) -> None:
    cache, _, _ = _cache(tmp_path, [30.0, 50.0])
    with pytest.raises(ConfigError, match="device 'cuda': no CUDA GPU is available"):
        score_run(tmp_path / "no-run", cache, device="cuda")
