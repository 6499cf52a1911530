"""The VAE, VAE-a_c and VAE-a_p networks: shapes, age handling, determinism, training steps."""

from __future__ import annotations

import pytest
import torch

from brainuad.errors import ConfigError
from brainuad.models import ModelConfig, build_model, vae_loss
from uad_testing import ACTIVATION_ATOL, AGE_ATOL_YEARS

SMALL = dict(channels=(2, 4, 4), n_z=6, bottleneck_channels=2)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(17, 23, 19), (16, 16, 16), (9, 11, 7), (64, 77, 66)])
@pytest.mark.parametrize("upsampling", ["transpose", "upsample"])
@pytest.mark.parametrize("kind", ["vae", "vae-ac", "vae-ap"])
def test_output_shapes_for_odd_inputs(shape, upsampling, kind):
    cfg = ModelConfig(kind=kind, input_shape=shape, upsampling=upsampling, **SMALL)
    model = build_model(cfg)
    x = torch.rand(2, 1, *shape)
    out = model(x, torch.tensor([30.0, 70.0]), generator=_gen())
    assert out.recon.shape == x.shape
    assert out.mu.shape == out.logvar.shape == (2, 6)
    assert (out.age_pred is not None) == (kind == "vae-ap")
    if out.age_pred is not None:
        assert out.age_pred.shape == (2,)


def test_age_head_only_in_vae_ap_and_branches_before_the_latent():
    for kind in ("vae", "vae-ac"):
        assert (
            build_model(ModelConfig(kind=kind, input_shape=(12, 12, 12), **SMALL)).age_head is None
        )
    model = build_model(ModelConfig(kind="vae-ap", input_shape=(12, 12, 12), **SMALL))
    assert model.age_head is not None
    with torch.no_grad():  # zero at initialisation: give the head weights to pass gradients back
        model.age_head_output.weight.normal_(generator=_gen(1))
    x = torch.rand(3, 1, 12, 12, 12)
    out = model(x, generator=_gen())
    # the age loss reaches the encoder and the head, but not the latent layers or the decoder
    (out.age_pred.sum()).backward()
    assert model.age_head_output.weight.grad.abs().sum() > 0
    assert model.encoder[0][0].weight.grad.abs().sum() > 0
    assert model.fc_mu.weight.grad is None or model.fc_mu.weight.grad.abs().sum() == 0
    assert model.fc_dec.weight.grad is None or model.fc_dec.weight.grad.abs().sum() == 0
    # changing the latent layers does not change the prediction
    model.eval()
    before = model(x).age_pred
    with torch.no_grad():
        model.fc_mu.weight.add_(1.0)
    torch.testing.assert_close(model(x).age_pred, before)


def test_age_head_predicts_mean_plus_sd_times_output_and_starts_at_the_mean():
    cfg = ModelConfig(kind="vae-ap", input_shape=(8, 8, 8), age_mean=41.0, age_sd=12.0, **SMALL)
    model = build_model(cfg).eval()
    x = torch.rand(3, 1, 8, 8, 8)
    # untrained: the zero-initialised output layer gives the training mean for every scan
    torch.testing.assert_close(model(x).age_pred, torch.full((3,), 41.0))
    with torch.no_grad():
        model.age_head_output.bias.fill_(0.5)
    torch.testing.assert_close(model(x).age_pred, torch.full((3,), 41.0 + 12.0 * 0.5))
    _, _, feats = model.encode(x)
    torch.testing.assert_close(model.predict_age(feats), model(x).age_pred)
    with pytest.raises(ValueError, match="has no age head"):
        build_model(ModelConfig(input_shape=(8, 8, 8), **SMALL)).predict_age(feats)


def test_age_head_dropout_uses_the_generator_and_only_in_training():
    cfg = ModelConfig(kind="vae-ap", input_shape=(8, 8, 8), age_dropout=0.5, **SMALL)
    model = build_model(cfg, seed=2)
    with torch.no_grad():
        model.age_head_output.weight.normal_(generator=_gen(0))
    x = torch.rand(4, 1, 8, 8, 8)
    state = torch.get_rng_state()
    a = model(x, generator=_gen(3)).age_pred
    b = model(x, generator=_gen(3)).age_pred
    c = model(x, generator=_gen(4)).age_pred
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    model.eval()
    torch.testing.assert_close(model(x).age_pred, model(x).age_pred)
    with pytest.raises(ConfigError, match="age_dropout"):
        ModelConfig(kind="vae-ap", age_dropout=1.0)
    with pytest.raises(ConfigError, match="age_sd"):
        ModelConfig(kind="vae-ap", age_sd=0.0)


def test_vae_ac_multiplies_the_latent_by_the_scaled_age():
    cfg = ModelConfig(kind="vae-ac", input_shape=(12, 10, 9), **SMALL)
    model = build_model(cfg, seed=3).eval()
    x = torch.rand(2, 1, 12, 10, 9)
    age = torch.tensor([25.0, 80.0])
    out = model(x, age)
    expected = model.decode(out.mu * (age / 100.0).unsqueeze(1))
    torch.testing.assert_close(out.recon, expected)
    assert not torch.allclose(model(x, age + 10).recon, out.recon)
    with pytest.raises(ValueError, match="needs the chronological age"):
        model(x)


def test_eval_uses_mu_and_training_needs_a_generator():
    model = build_model(ModelConfig(input_shape=(10, 10, 10), **SMALL))
    x = torch.rand(2, 1, 10, 10, 10)
    with pytest.raises(ValueError, match="needs a torch.Generator"):
        model(x)
    torch.testing.assert_close(model(x, sample=False).mu, model(x, sample=False).mu)
    a = model(x, generator=_gen(5)).recon
    b = model(x, generator=_gen(5)).recon
    c = model(x, generator=_gen(6)).recon
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    model.eval()
    out = model(x)
    torch.testing.assert_close(out.recon, model.decode(out.mu))


def test_build_model_is_seeded_and_leaves_global_rng_alone():
    cfg = ModelConfig(input_shape=(8, 8, 8), **SMALL)
    state = torch.get_rng_state()
    a, b, c = build_model(cfg, seed=1), build_model(cfg, seed=1), build_model(cfg, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.fc_mu.weight, c.fc_mu.weight)


def test_implementations_and_memory_formats_agree():
    cfg = ModelConfig(kind="vae-ap", input_shape=(13, 12, 11), **SMALL)
    x = torch.rand(2, 1, 13, 12, 11)
    ref = build_model(cfg, impl="native").eval()(x)
    phase = build_model(cfg, impl="phase").eval()
    cl = build_model(cfg).eval().to(memory_format=torch.channels_last_3d)
    for model in (phase, cl):
        out = model(x.contiguous(memory_format=torch.channels_last_3d))
        torch.testing.assert_close(out.recon, ref.recon, atol=ACTIVATION_ATOL, rtol=1e-3)
        torch.testing.assert_close(out.age_pred, ref.age_pred, atol=AGE_ATOL_YEARS, rtol=0)


def test_wrong_input_shape_is_reported():
    model = build_model(ModelConfig(input_shape=(8, 8, 8), **SMALL)).eval()
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 1, 8, 8, 8\)"):
        model(torch.rand(1, 1, 8, 8, 9))


@pytest.mark.parametrize("kind", ["vae", "vae-ac", "vae-ap"])
def test_a_few_training_steps_reduce_the_loss(kind):
    cfg = ModelConfig(kind=kind, input_shape=(16, 18, 17), channels=(4, 8), n_z=8)
    model = build_model(cfg, seed=0)
    gen = _gen(0)
    data = torch.Generator().manual_seed(1)
    x = torch.rand(4, 1, 16, 18, 17, generator=data) * 0.5
    age = torch.tensor([20.0, 40.0, 60.0, 80.0])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        terms = vae_loss(model(x, age, generator=gen), x, age)
        terms.total.backward()
        opt.step()
        losses.append(float(terms.total.detach()))
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3


def test_config_validation_and_round_trip():
    cfg = ModelConfig(kind="vae-ap", input_shape=(64, 77, 66))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.level_shapes()[-1] == (4, 5, 5)
    assert cfg.flat_features == 16 * 4 * 5 * 5
    with pytest.raises(ConfigError, match="model kind: expected one of"):
        ModelConfig(kind="ae")
    with pytest.raises(ConfigError, match="kernel_size: expected an odd size"):
        ModelConfig(kernel_size=4)
    with pytest.raises(ConfigError, match="upsampling: expected one of"):
        ModelConfig(upsampling="pixelshuffle")
    with pytest.raises(ConfigError, match="age_scale: expected a positive"):
        ModelConfig(age_scale=0)
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['depth'\]"):
        ModelConfig.from_dict({"depth": 3})


def test_age_head_input_is_standardised_per_volume():
    """A shift or scale common to all features of a volume does not move its predicted age."""
    for norm in (True, False):
        cfg = ModelConfig(kind="vae-ap", input_shape=(24, 24, 24), age_norm=norm, **SMALL)
        model = build_model(cfg, seed=1).eval()
        with torch.no_grad():  # a head that moves the age by a few years
            model.age_head_output.weight.normal_(std=0.1, generator=_gen(2))
        feats = torch.rand(3, cfg.flat_features, generator=_gen(3))
        shifted = model.predict_age(2.0 * feats + 5.0)
        assert (model.predict_age(feats) - 45.44).abs().max() > 0.5  # the head does something
        same = torch.allclose(model.predict_age(feats), shifted, rtol=0, atol=AGE_ATOL_YEARS)
        assert same == norm


def test_vae_acp_scales_the_latent_and_predicts_the_age():
    cfg = ModelConfig(kind="vae-acp", input_shape=(12, 10, 9), age_mean=40.0, **SMALL)
    model = build_model(cfg, seed=3).eval()
    assert model.uses_age_input and model.has_age_head
    with torch.no_grad():
        model.age_head_output.weight.normal_(generator=_gen(1))
    x = torch.rand(2, 1, 12, 10, 9)
    age = torch.tensor([25.0, 80.0])
    out = model(x, age)
    torch.testing.assert_close(out.recon, model.decode(out.mu * (age / 100.0).unsqueeze(1)))
    _, _, feats = model.encode(x)
    torch.testing.assert_close(out.age_pred, model.predict_age(feats))
    # the head sits before the latent: the age it predicts does not depend on the age input
    torch.testing.assert_close(model(x, age + 10).age_pred, out.age_pred)
    with pytest.raises(ValueError, match="vae-acp needs the chronological age"):
        model(x)


@pytest.mark.parametrize("kind", ["vae", "vae-ac", "vae-ap", "vae-acp"])
def test_score_is_the_forward_pass_and_keeps_what_needs_no_age(kind):
    model = build_model(ModelConfig(kind=kind, input_shape=(12, 10, 9), **SMALL), seed=4).eval()
    x = torch.rand(3, 1, 12, 10, 9)
    age = torch.tensor([30.0, 50.0, 70.0])
    out = model(x, age)
    scores = model.score(x, age)
    assert torch.equal(scores.recon, out.recon)
    kl = 0.5 * (out.mu**2 + out.logvar.exp() - out.logvar - 1).sum(dim=1)
    torch.testing.assert_close(scores.kl, kl)
    assert (scores.age_pred is None) == (out.age_pred is None)
    without = model.score(x)
    assert (without.recon is None) == model.uses_age_input
    torch.testing.assert_close(without.kl, scores.kl)
    if model.has_age_head:
        torch.testing.assert_close(without.age_pred, scores.age_pred)
