"""The 3D VAE of the paper and its age-aware variants (paper §2.2, Fig. 1).

Encoder: ``len(channels)`` stride-2 convolutions (kernel ``kernel_size``, BatchNorm, LeakyReLU),
a 1x1x1 convolution down to ``bottleneck_channels``, flattening, and two dense layers giving
``mu`` and ``logvar`` (size ``n_z``). Decoder: a dense layer back to the small grid, a 1x1x1
convolution back to the deepest width, then stride-2 transposed convolutions (or resize +
convolution) that retrace the encoder's shapes exactly, ending in a linear output layer (no
normalisation, no activation) with one channel.

The method (``config.kind``, see :mod:`brainuad.methods`) switches two capabilities:

* age input (VAE-a_c): the latent is multiplied element-wise by the scaled chronological age,
  ``z~ = z * a_c`` with ``a_c = age_years / age_scale`` (default ``age_scale`` 100).
* age head (VAE-a_p): an age-regression layer on the flattened encoder features (before the
  latent space) predicts the brain age ``a_p = age_mean + age_sd * head(features)`` in years,
  where ``age_mean``/``age_sd`` are the healthy training ages' statistics stored in the config
  and the head's output layer starts at zero (an untrained head predicts the mean age).

The model answers for itself what is scored: :meth:`VAE.score` gives the reconstruction, the
KL divergence of the posterior (:func:`kl_to_standard_normal`) and the predicted age, and
without the chronological age still gives what does not need it.

Sampling: in training mode ``z = mu + exp(logvar / 2) * eps`` with ``eps`` drawn from the
``generator`` passed to :meth:`VAE.forward` (required, so no global RNG state is used); in
evaluation mode (``model.eval()``) ``z = mu``, so scoring is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from brainuad.models.config import ModelConfig
from brainuad.models.layers import (
    NormAct,
    ResizeConv3d,
    StridedConv3d,
    StridedConvTranspose3d,
    init_weights,
)

#: factor applied to the He-initialised weights of the linear output layer
OUTPUT_INIT_SCALE = 0.1


@dataclass(frozen=True)
class VAEOutput:
    """What a forward pass returns.

    Attributes:
        recon: reconstruction, same shape as the input (B, 1, X, Y, Z).
        mu: posterior means (B, n_z).
        logvar: posterior log-variances (B, n_z).
        age_pred: predicted brain age in years (B,) with an age head, else ``None``.
    """

    recon: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    age_pred: torch.Tensor | None = None


@dataclass(frozen=True)
class VolumeScores:
    """What :meth:`VAE.score` returns for a batch of B volumes.

    Attributes:
        recon: reconstruction (B, 1, X, Y, Z), or ``None`` when the model needs the
            chronological age to decode and none was given.
        kl: KL divergence of the posterior from N(0, I), summed over the latent (B,).
        age_pred: predicted brain age in years (B,) with an age head, else ``None``.
    """

    recon: torch.Tensor | None
    kl: torch.Tensor
    age_pred: torch.Tensor | None


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over latent dimensions.

    The anomaly score L_KL (the training loss uses :func:`brainuad.models.kl_divergence`).
    """
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - logvar - 1.0, dim=1)


class VAE(nn.Module):
    """3D VAE with the capabilities of the method ``config.kind``; see the module docstring.

    ``impl`` selects the convolution implementation of the first and last layers (``"auto"``,
    ``"native"``, ``"phase"``; see :mod:`brainuad.models.layers`); it does not change the maths
    or the weights.
    """

    def __init__(self, config: ModelConfig, impl: str = "auto"):
        super().__init__()
        self.config = config
        cfg = config
        k, slope = cfg.kernel_size, cfg.negative_slope
        shapes = cfg.level_shapes()
        widths = (1, *cfg.channels)
        down: list[nn.Module] = []
        for i in range(len(cfg.channels)):
            conv = StridedConv3d(widths[i], widths[i + 1], k, impl=impl)
            down.append(nn.Sequential(conv, NormAct(widths[i + 1], slope)))
        self.encoder = nn.Sequential(*down)
        self.reduce = nn.Sequential(
            nn.Conv3d(cfg.channels[-1], cfg.bottleneck_channels, 1),
            NormAct(cfg.bottleneck_channels, slope),
        )
        n_flat = cfg.flat_features
        self.fc_mu = nn.Linear(n_flat, cfg.n_z)
        self.fc_logvar = nn.Linear(n_flat, cfg.n_z)
        self.age_head: nn.Sequential | None = None
        if cfg.has_age_head:
            layers: list[nn.Module] = []
            if cfg.age_norm:
                layers.append(nn.LayerNorm(n_flat, elementwise_affine=False))
            if cfg.age_hidden:
                layers += [nn.Linear(n_flat, cfg.age_hidden), nn.LeakyReLU(slope)]
            layers.append(nn.Linear(cfg.age_hidden or n_flat, 1))
            self.age_head = nn.Sequential(*layers)
        self.fc_dec = nn.Linear(cfg.n_z, n_flat)
        self.act_dec = nn.LeakyReLU(slope)
        self.expand = nn.Sequential(
            nn.Conv3d(cfg.bottleneck_channels, cfg.channels[-1], 1),
            NormAct(cfg.channels[-1], slope),
        )
        up: list[nn.Module] = []
        for i in reversed(range(len(cfg.channels))):
            target, c_out = shapes[i], widths[i]
            if cfg.upsampling == "transpose":
                layer: nn.Module = StridedConvTranspose3d(
                    widths[i + 1], c_out, k, target, impl=impl
                )
            else:
                layer = ResizeConv3d(widths[i + 1], c_out, k, target)
            up.append(layer if i == 0 else nn.Sequential(layer, NormAct(c_out, slope)))
        self.decoder = nn.Sequential(*up)  # the last layer (1 channel) is linear

    # -- parts ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(mu, logvar, features)``; ``features`` are the flattened encoder output."""
        if tuple(x.shape[1:]) != (1, *self.config.input_shape):
            raise ValueError(
                f"expected input of shape (B, 1, {', '.join(map(str, self.config.input_shape))}), "
                f"found {tuple(x.shape)}"
            )
        h = self.reduce(self.encoder(x))
        feats = h.flatten(1)  # logical (C, X, Y, Z) order whatever the memory format
        return self.fc_mu(feats), self.fc_logvar(feats), feats

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latents (B, n_z) to volumes (B, 1, X, Y, Z)."""
        deepest = self.config.level_shapes()[-1]
        h = self.act_dec(self.fc_dec(z)).view(z.shape[0], self.config.bottleneck_channels, *deepest)
        memory_format = (
            torch.channels_last_3d
            if self.expand[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
            else torch.contiguous_format
        )
        return self.decoder(self.expand(h.contiguous(memory_format=memory_format)))

    @property
    def uses_age_input(self) -> bool:
        """True when decoding needs the chronological age (the latent is scaled by it)."""
        return self.config.uses_age_input

    @property
    def has_age_head(self) -> bool:
        """True when the model predicts the brain age."""
        return self.age_head is not None

    def scale_age(self, age: torch.Tensor) -> torch.Tensor:
        """Years -> the age-input unit (``age / age_scale``), shape (B,)."""
        return age.reshape(-1) / self.config.age_scale

    def predict_age(
        self, features: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Brain age in years (B,) from the flattened encoder ``features`` (see :meth:`encode`).

        ``a_p = age_mean + age_sd * head(features)``. With ``age_dropout`` > 0, in training mode
        and given a ``generator``, the features are dropped out (inverted dropout) with a mask
        drawn from it, so no global RNG state is used; otherwise no dropout is applied.
        Raises ``ValueError`` without an age head.
        """
        if self.age_head is None:
            raise ValueError(f"{self.config.kind}: this model has no age head")
        cfg = self.config
        if self.training and cfg.age_dropout > 0 and generator is not None:
            keep = 1.0 - cfg.age_dropout
            draw = torch.rand(features.shape, generator=generator, device=features.device)
            features = features * (draw < keep).to(features.dtype) / keep
        return cfg.age_mean + cfg.age_sd * self.age_head(features).reshape(-1)

    @property
    def age_head_output(self) -> nn.Linear | None:
        """The last (linear) layer of the age head, or None without a head."""
        return None if self.age_head is None else self.age_head[-1]  # type: ignore[return-value]

    # -- forward -------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        age: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        sample: bool | None = None,
    ) -> VAEOutput:
        """Encode, sample (training) or take ``mu`` (eval), optionally scale by age, decode.

        Args:
            x: volumes (B, 1, X, Y, Z).
            age: chronological ages in years (B,); required when the model uses the age
                input (:attr:`uses_age_input`), ignored otherwise.
            generator: source of the reparameterisation noise; required when sampling.
            sample: draw ``z`` from the posterior (default: in training mode only); ``False``
                uses ``z = mu`` whatever the mode.
        """
        mu, logvar, feats = self.encode(x)
        draw = self.training if sample is None else sample
        if draw:
            if generator is None:
                raise ValueError("sampling z (training mode) needs a torch.Generator for eps")
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
        else:
            z = mu
        if self.config.uses_age_input:
            if age is None:
                raise ValueError(
                    f"{self.config.kind} needs the chronological age of every input volume"
                )
            z = z * self.scale_age(age).to(z.dtype).unsqueeze(1)
        age_pred = None
        if self.age_head is not None:  # dropout on the head only when z is sampled (training)
            age_pred = self.predict_age(feats, generator if draw else None)
        return VAEOutput(self.decode(z), mu, logvar, age_pred)

    @torch.no_grad()
    def score(self, x: torch.Tensor, age: torch.Tensor | None = None) -> VolumeScores:
        """The scored quantities of volumes ``x`` (B, 1, X, Y, Z), with ``z = mu``.

        ``age`` (years, (B,)) is used only by a model that scales its latent by it; without it
        such a model gives no reconstruction, but still the KL divergence and, with an age
        head, the predicted age (both come from the encoder alone). Call in eval mode.
        """
        if self.uses_age_input and age is None:
            mu, logvar, feats = self.encode(x)
            age_pred = self.predict_age(feats) if self.age_head is not None else None
            return VolumeScores(
                None, kl_to_standard_normal(mu.flatten(1), logvar.flatten(1)), age_pred
            )
        out = self(x, age=age if self.uses_age_input else None)
        kl = kl_to_standard_normal(out.mu.flatten(1), out.logvar.flatten(1))
        return VolumeScores(out.recon, kl, out.age_pred)


def build_model(config: ModelConfig, *, seed: int = 0, impl: str = "auto") -> VAE:
    """Build the model described by ``config`` with weights initialised from ``seed``.

    The same ``(config, seed)`` always gives the same weights; the global RNG state is left
    untouched (module construction runs under :func:`torch.random.fork_rng`, and the weights
    are then drawn from a private :class:`torch.Generator`).
    """
    with torch.random.fork_rng(devices=[]):
        model = VAE(config, impl=impl)
    generator = torch.Generator().manual_seed(int(seed))
    init_weights(model, generator, config.negative_slope)
    with torch.no_grad():  # start the linear output layer near 0: small initial reconstructions
        out_layer = model.decoder[-1]
        conv = out_layer.conv if isinstance(out_layer, ResizeConv3d) else out_layer
        conv.weight.mul_(OUTPUT_INIT_SCALE)
        head_out = model.age_head_output
        if head_out is not None:  # an untrained head predicts the training mean age
            head_out.weight.zero_()
            head_out.bias.zero_()
    return model
