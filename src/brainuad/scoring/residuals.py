"""Per-subject anomaly scores from one forward pass of a trained VAE (paper §2.2, eq. 3).

For a volume ``x`` with brain mask ``m``, the model (in eval mode, so ``z = mu``) returns the
reconstruction ``x~``, the posterior ``mu, logvar`` and, with an age head, a predicted age ``a_p``
(all from :meth:`brainuad.models.VAE.score`: the model answers for itself):

- ``rec`` = L_rec = sum over brain voxels of ``|x - x~|``: the reduction of the training loss
  (eq. 1) and the scale the paper's combined-score grid (alpha in {0, 0.001, ..., 2}, beta = 1)
  is made for. A per-voxel mean (about 0.1) would be four orders of magnitude below L_KL (a few
  hundred), so no alpha of that grid could give it weight; ``rec_mean`` (= rec / brain voxels)
  is kept for reading;
- ``kl`` = L_KL = ``0.5 * sum_i (mu_i^2 + exp(logvar_i) - logvar_i - 1)``, the KL divergence of
  ``q(z|x)`` from ``N(0, I)`` summed over latent dimensions;
- ``age_pred`` = ``a_p`` in years and ``age_abs_error`` = L_age = ``|a_p - a_c|`` (age head only).

Higher is more anomalous for every score. The voxel-wise map is ``|x - x~|`` inside the mask,
optionally smoothed with a Gaussian.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from brainuad.models import VAE
from brainuad.models import kl_to_standard_normal as kl_to_standard_normal  # re-exported


@dataclass(frozen=True)
class BatchScores:
    """Scores of a batch of B subjects; ``age_pred`` is None for models without an age head."""

    rec: np.ndarray
    rec_mean: np.ndarray
    kl: np.ndarray
    age_pred: np.ndarray | None
    residual: np.ndarray | None  # (B, X, Y, Z) |x - x~| * mask, when requested

    def nonfinite(self) -> list[int]:
        """Positions in the batch whose rec, KL or predicted age is NaN or infinite."""
        ok = np.isfinite(self.rec) & np.isfinite(self.kl)
        if self.age_pred is not None:
            ok &= np.isfinite(self.age_pred)
        return [int(i) for i in np.flatnonzero(~ok)]


@torch.no_grad()
def score_batch(
    model: VAE,
    volumes: np.ndarray,
    masks: np.ndarray,
    ages: np.ndarray | None,
    *,
    device: torch.device | str = "cpu",
    keep_residuals: bool = False,
) -> BatchScores:
    """Score a batch: ``volumes``/``masks`` are (B, X, Y, Z); ``ages`` (B,) years or None.

    The ages are used only by a model that scales its latent by them (``ValueError`` when
    such a model gets none).
    """
    model.eval()
    dev = torch.device(device)
    x = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32)).to(dev)[:, None]
    m = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.float32)).to(dev)[:, None]
    age_t = None if ages is None else torch.as_tensor(np.asarray(ages, np.float32), device=dev)
    out = model.score(x, age_t)
    if out.recon is None:
        raise ValueError(f"{model.config.kind} needs the chronological age of every volume")
    residual = (x - out.recon).abs() * m
    n_brain = m.sum(dim=(1, 2, 3, 4)).clamp_min(1.0)
    rec = residual.sum(dim=(1, 2, 3, 4))
    kl = out.kl
    age_pred = None if out.age_pred is None else out.age_pred.reshape(-1).float().cpu().numpy()
    return BatchScores(
        rec=rec.float().cpu().numpy(),
        rec_mean=(rec / n_brain).float().cpu().numpy(),
        kl=kl.float().cpu().numpy(),
        age_pred=age_pred,
        residual=residual[:, 0].float().cpu().numpy() if keep_residuals else None,
    )


def anomaly_map(residual: np.ndarray, mask: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Smoothed voxel-wise anomaly map: Gaussian-filtered residual, zero outside the mask."""
    res = np.asarray(residual, dtype=np.float32)
    if sigma > 0:
        res = gaussian_filter(res, sigma=sigma, mode="constant")
    return (res * (np.asarray(mask) > 0)).astype(np.float32)
