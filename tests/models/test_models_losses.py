"""Loss terms of eq. (1)/(2) against hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from brainuad.models import VAEOutput, age_l1, kl_divergence, reconstruction_l1, vae_loss


def test_reconstruction_l1_is_a_per_volume_sum():
    x = torch.tensor([[[0.0, 1.0], [0.5, 0.25]], [[1.0, 1.0], [1.0, 1.0]]]).reshape(2, 1, 2, 2, 1)
    r = torch.tensor([[[0.5, 1.0], [0.0, 0.0]], [[1.0, 0.0], [1.0, 0.5]]]).reshape(2, 1, 2, 2, 1)
    # |0.5| + 0 + |0.5| + |0.25| = 1.25 ; 0 + 1 + 0 + 0.5 = 1.5
    torch.testing.assert_close(reconstruction_l1(r, x), torch.tensor([1.25, 1.5]))
    mask = torch.tensor([[1, 0], [1, 0]]).reshape(1, 1, 2, 2, 1)
    torch.testing.assert_close(reconstruction_l1(r, x, mask), torch.tensor([1.0, 0.0]))


def test_kl_divergence_matches_closed_form_by_hand():
    mu = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, -1.0]])
    # per dim: 0.5 * (var + mu^2 - 1 - log var)
    row0 = 0.5 * (1 + 0 - 1 - 0) + 0.5 * (2 + 1 - 1 - math.log(2.0))
    row1 = 0.5 * (1 + 4 - 1 - 0) + 0.5 * (math.exp(-1) + 1 - 1 + 1)
    torch.testing.assert_close(kl_divergence(mu, logvar), torch.tensor([row0, row1]))
    assert float(kl_divergence(torch.zeros(1, 5), torch.zeros(1, 5))) == 0.0


def test_age_l1_in_years():
    torch.testing.assert_close(
        age_l1(torch.tensor([30.0, 50.0]), torch.tensor([35.0, 42.0])), torch.tensor([5.0, 8.0])
    )


def _output(with_age: bool) -> tuple[VAEOutput, torch.Tensor]:
    x = torch.zeros(2, 1, 2, 1, 1)
    recon = torch.tensor([1.0, 2.0, 0.0, 0.5]).reshape(2, 1, 2, 1, 1)  # rec sums 3.0, 0.5
    mu = torch.tensor([[1.0], [0.0]])  # KL 0.5, 0
    logvar = torch.zeros(2, 1)
    age_pred = torch.tensor([40.0, 20.0]) if with_age else None
    return VAEOutput(recon, mu, logvar, age_pred), x


# voxels per volume 2 (shape 1x2x1x1), latent size 1: per-volume sums rec (3.0, 0.5), KL (0.5, 0)
_DIVISORS = {"sum": (1.0, 1.0), "elbo-per-voxel": (2.0, 2.0), "mean": (2.0, 1.0)}


@pytest.mark.parametrize("reduction", sorted(_DIVISORS))
def test_vae_loss_eq2_batch_means_with_weights(reduction: str) -> None:
    out, x = _output(True)
    terms = vae_loss(out, x, torch.tensor([50.0, 22.0]), beta=0.5, gamma=2.0, reduction=reduction)
    rec_div, kl_div = _DIVISORS[reduction]
    rec, kl = (3.0 + 0.5) / 2 / rec_div, 0.25 / kl_div
    assert float(terms.rec) == pytest.approx(rec)
    assert float(terms.kl) == pytest.approx(kl)
    assert float(terms.age) == pytest.approx((10 + 2) / 2)  # years, whatever the reduction
    assert float(terms.total) == pytest.approx(rec + 0.5 * kl + 2.0 * 6.0)
    assert terms.as_floats()["loss"] == pytest.approx(float(terms.total))


def test_elbo_per_voxel_is_the_summed_elbo_divided_by_the_voxel_count() -> None:
    out, x = _output(False)
    summed = vae_loss(out, x, reduction="sum")
    per_voxel = vae_loss(out, x, reduction="elbo-per-voxel")
    assert float(per_voxel.total) == pytest.approx(float(summed.total) / 2)
    with pytest.raises(ValueError, match="reduction: expected one of"):
        vae_loss(out, x, reduction="median")


def test_vae_loss_eq1_without_age_head():
    out, x = _output(False)
    terms = vae_loss(out, x, beta=1.0, gamma=5.0, reduction="sum")
    assert terms.age is None
    assert math.isnan(terms.as_floats()["age"])
    assert float(terms.total) == pytest.approx(1.75 + 0.25)


def test_vae_loss_needs_age_when_model_predicts_it():
    out, x = _output(True)
    with pytest.raises(ValueError, match="needs the chronological age"):
        vae_loss(out, x)
