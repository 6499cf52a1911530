"""Networks and losses (plain ``nn.Module``s and functions; no file I/O, no training loop).

* :class:`ModelConfig` / :func:`build_model`: the 3D VAE of each registered method
  (:mod:`brainuad.methods`).
* ``model(x, age=None, generator=...) -> VAEOutput(recon, mu, logvar, age_pred)``; in
  ``model.eval()`` mode the latent is ``mu`` (deterministic), ``age_pred`` is in years.
* :func:`reconstruction_l1`, :func:`kl_divergence`, :func:`age_l1` (per volume, shape (B,)) and
  :func:`vae_loss` (eq. 1/2, batch means) -> :class:`LossTerms`.
"""

from brainuad.models.config import PAPER_SHAPE, UPSAMPLING_MODES, ModelConfig
from brainuad.models.losses import LossTerms, age_l1, kl_divergence, reconstruction_l1, vae_loss
from brainuad.models.vae import VAE, VAEOutput, VolumeScores, build_model, kl_to_standard_normal

__all__ = [
    "PAPER_SHAPE",
    "UPSAMPLING_MODES",
    "VAE",
    "LossTerms",
    "ModelConfig",
    "VAEOutput",
    "VolumeScores",
    "age_l1",
    "build_model",
    "kl_divergence",
    "kl_to_standard_normal",
    "reconstruction_l1",
    "vae_loss",
]
