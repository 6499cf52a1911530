"""Loss terms of eq. (1) and (2): L1 reconstruction, KL divergence to N(0, I), L1 age error.

Reduction. Each term is first reduced *per volume* by a **sum** (over voxels for the
reconstruction, over latent dimensions for the KL divergence), then averaged over the batch.
This is the negative evidence lower bound of a VAE with a Laplace likelihood (up to constants),
as in Baur et al. and Kingma & Welling: the balance between reconstruction and KL does not
depend on the batch size, and with beta = 1 the KL term has its proper weight. Averaging over
voxels instead would shrink the reconstruction term by the voxel count (~325 000 for
64x77x66) and let the KL term dominate, collapsing the posterior. The age term is the absolute
error in **years** per volume (paper: l1-distance between a_p and a_c), averaged over the batch.

The per-volume functions return shape (B,) so that scoring can use them as anomaly scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from brainuad.models.vae import VAEOutput


@dataclass(frozen=True)
class LossTerms:
    """Batch-mean loss terms; ``total = rec + beta * kl + gamma * age`` (age 0 if absent)."""

    total: torch.Tensor
    rec: torch.Tensor
    kl: torch.Tensor
    age: torch.Tensor | None = None

    def as_floats(self) -> dict[str, float]:
        """Detached Python floats (``age`` is NaN when the model has no age head)."""
        age = float("nan") if self.age is None else float(self.age.detach())
        return {
            "loss": float(self.total.detach()),
            "rec": float(self.rec.detach()),
            "kl": float(self.kl.detach()),
            "age": age,
        }


def reconstruction_l1(
    recon: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-volume sum of ``|recon - x|`` over all voxels (or the voxels where ``mask`` != 0).

    Shapes: ``recon`` and ``x`` (B, ...), ``mask`` broadcastable to them. Returns (B,), float32.
    """
    diff = (recon.float() - x.float()).abs()
    if mask is not None:
        diff = diff * (mask != 0)
    return diff.flatten(1).sum(dim=1)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-volume KL(N(mu, exp(logvar)) || N(0, I)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar)).

    Shapes: (B, n_z) each. Returns (B,), float32.
    """
    mu, logvar = mu.float(), logvar.float()
    return -0.5 * (1.0 + logvar - mu.square() - logvar.exp()).sum(dim=1)


def age_l1(age_pred: torch.Tensor, age: torch.Tensor) -> torch.Tensor:
    """Per-volume absolute age error in years, ``|a_p - a_c|``. Shapes (B,); returns (B,)."""
    return (age_pred.float().reshape(-1) - age.float().reshape(-1)).abs()


def vae_loss(
    out: VAEOutput,
    x: torch.Tensor,
    age: torch.Tensor | None = None,
    *,
    beta: float = 1.0,
    gamma: float = 1.0,
    mask: torch.Tensor | None = None,
) -> LossTerms:
    """Eq. (1) (no age head) or eq. (2) (VAE-a_p): ``L_rec + beta L_KL [+ gamma L_age]``.

    Every term is a batch mean of the per-volume terms above. ``age`` (years, shape (B,)) is
    required when ``out.age_pred`` is not None.
    """
    rec = reconstruction_l1(out.recon, x, mask).mean()
    kl = kl_divergence(out.mu, out.logvar).mean()
    total = rec + beta * kl
    age_term = None
    if out.age_pred is not None:
        if age is None:
            raise ValueError("the model predicts age, so vae_loss needs the chronological age")
        age_term = age_l1(out.age_pred, age).mean()
        total = total + gamma * age_term
    return LossTerms(total, rec, kl, age_term)
