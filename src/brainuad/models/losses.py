"""Loss terms of eq. (1) and (2): L1 reconstruction, KL divergence to N(0, I), L1 age error.

The paper gives the loss as ``L_rec + beta L_KL + gamma L_age`` with beta = gamma = 1 but not
the reduction of each term, and the reduction decides what beta = 1 and gamma = 1 mean. Three
are offered (:data:`REDUCTIONS`); every term is reduced per volume, then averaged over the
batch, and the age term is always the absolute error in **years** (paper: l1-distance between
a_p and a_c):

* ``"mean"`` (default): PyTorch's default reduction for every term, as ``nn.L1Loss()`` gives
  for the reconstruction and the age, and the KL divergence averaged over latent dimensions.
  This is the plausible reading of the paper (PyTorch 1.7, beta = gamma = 1 "as in previous
  works", no reduction stated): one year of age error then weighs like a mean absolute voxel
  error of 1 (the whole standardised intensity range), so the age task shapes the shared
  encoder, as the paper's "effective regularisation" needs; the KL term is ``voxels / n_z``
  times heavier than in the ELBO (a strongly regularised VAE, whose L_KL is an informative
  anomaly score, as in the paper's Figure 2).
* ``"sum"``: L_rec summed over voxels, L_KL summed over latent dimensions: the negative ELBO of
  a VAE with a Laplace likelihood (Kingma & Welling; Baur et al.). beta = 1 gives KL its ELBO
  weight, but L_rec is ~10^4 per volume, so gamma = 1 gives the age ~0.1 % of the loss and the
  shared encoder learns almost nothing for it.
* ``"elbo-per-voxel"``: the ELBO divided by the number of voxels (L_rec averaged over voxels,
  L_KL summed over latent dimensions then divided by the voxel count): beta = 1 keeps the ELBO
  balance of ``"sum"`` while gamma = 1 weighs the age as in ``"mean"``.

The measured effect of each on the demo cohort is in ``docs/benchmarks/brain-age.md``. The
per-volume functions return shape (B,) sums so that scoring can use them as anomaly scores
(scores are always the sums; the reduction only concerns training).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from brainuad.models.vae import VAEOutput

#: per-volume reductions of the loss terms (see the module docstring)
REDUCTIONS = ("mean", "sum", "elbo-per-voxel")
DEFAULT_REDUCTION = "mean"


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
    reduction: str = DEFAULT_REDUCTION,
) -> LossTerms:
    """Eq. (1) (no age head) or eq. (2) (VAE-a_p): ``L_rec + beta L_KL [+ gamma L_age]``.

    Every term is a batch mean of per-volume terms reduced as ``reduction`` says (module
    docstring). ``age`` (years, shape (B,)) is required when ``out.age_pred`` is not None.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected one of {REDUCTIONS}, found {reduction!r}")
    rec = reconstruction_l1(out.recon, x, mask).mean()
    kl = kl_divergence(out.mu, out.logvar).mean()
    if reduction != "sum":
        n_voxels = float(x[0].numel())
        rec = rec / n_voxels
        kl = kl / (n_voxels if reduction == "elbo-per-voxel" else float(out.mu.shape[1]))
    total = rec + beta * kl
    age_term = None
    if out.age_pred is not None:
        if age is None:
            raise ValueError("the model predicts age, so vae_loss needs the chronological age")
        age_term = age_l1(out.age_pred, age).mean()
        total = total + gamma * age_term
    return LossTerms(total, rec, kl, age_term)
