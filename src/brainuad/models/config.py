"""Model configuration: a frozen dataclass that fully determines the network architecture.

The same :class:`ModelConfig` is stored in every checkpoint, so a model can be rebuilt exactly
(``build_model(ModelConfig.from_dict(d))``) before its weights are loaded.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brainuad.errors import ConfigError
from brainuad.methods import Method, get_method, is_method, method_ids

UPSAMPLING_MODES = ("transpose", "upsample")

#: Spatial shape of the paper's volumes (1 mm isotropic brains downsampled 2.5x).
PAPER_SHAPE = (64, 77, 66)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the 3D VAE (paper §2.2, Fig. 1; adapted from Baur et al. 2021).

    Attributes:
        kind: the id of a registered method (:mod:`brainuad.methods`); its capabilities
            decide whether the latent is scaled by the chronological age and whether an
            age-regression head sits on the flattened encoder features.
        input_shape: spatial shape (X, Y, Z) of the volumes; any size (odd sizes included).
        channels: output channels of the encoder's strided convolutions, one per level; the
            decoder mirrors them.
        kernel_size: odd kernel size of every strided (transposed) convolution (paper: 5).
        n_z: latent size (paper: 2048).
        bottleneck_channels: channels of the 1x1x1 convolution that reduces the deepest feature
            map before it is flattened into the dense bottleneck.
        upsampling: ``"transpose"`` (strided transposed convolutions, as Baur et al.) or
            ``"upsample"`` (nearest-neighbour resize to the exact target shape, then a stride-1
            convolution: no checkerboard artefacts, about 8x the decoder FLOPs).
        negative_slope: slope of the LeakyReLU activations.
        age_scale: years per unit of the age input (methods that scale the latent by it): the
            latent becomes ``z * years / age_scale`` (default 100, so ages of 20-90 years become
            0.2-0.9 and ``z * a_c`` keeps the scale of ``z``). Ages in the public API are always
            in years.
        age_hidden: hidden units of the age head; 0 (default) means a single linear regression
            layer, as in the paper.
        age_mean, age_sd: the age head predicts ``a_p = age_mean + age_sd * head(features)``
            (years). Set from the healthy training subjects' ages when a run starts and stored
            with the model (checkpoint, bundle), so that an untrained head (zero-initialised
            output layer) predicts the training mean and its output has the target's scale.
            The defaults are the paper's healthy cohort (45.44 +/- 16.85 years).
        age_dropout: dropout probability on the encoder features that feed the age head
            (training only; 0 = none).
        age_norm: standardise the features that feed the age head, per volume (``LayerNorm``
            without learnable scale or shift: no dependence on the batch). The flattened
            features come after a LeakyReLU, so they are mostly positive: Adam moves every
            weight of a linear head by about ``lr`` per step, and on uncentred inputs those
            moves add up to a shift of the predicted age of about ``lr * age_sd *
            sum(features)`` years per step, which keeps it swinging around the mean (measured:
            1 run in 3 never learnt the age within the demo's 20 epochs). Centred inputs leave
            the mean to the bias (docs/benchmarks/brain-age.md).
    """

    kind: str = "vae"
    input_shape: tuple[int, int, int] = PAPER_SHAPE
    channels: tuple[int, ...] = (32, 64, 128, 256)
    kernel_size: int = 5
    n_z: int = 2048
    bottleneck_channels: int = 16
    upsampling: str = "transpose"
    negative_slope: float = 0.2
    age_scale: float = 100.0
    age_hidden: int = 0
    age_mean: float = 45.44
    age_sd: float = 16.85
    age_dropout: float = 0.0
    age_norm: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        if not is_method(self.kind):
            raise ConfigError(f"model kind: expected one of {method_ids()}, found {self.kind!r}")
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ConfigError(f"input_shape: expected 3 positive sizes, found {self.input_shape}")
        if not self.channels or min(self.channels) < 1:
            raise ConfigError(f"channels: expected positive channel widths, found {self.channels}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size: expected an odd size >= 1, found {self.kernel_size}")
        if self.n_z < 1 or self.bottleneck_channels < 1 or self.age_hidden < 0:
            raise ConfigError(
                "n_z and bottleneck_channels must be >= 1 and age_hidden >= 0, found "
                f"{self.n_z}, {self.bottleneck_channels}, {self.age_hidden}"
            )
        if self.upsampling not in UPSAMPLING_MODES:
            raise ConfigError(
                f"upsampling: expected one of {UPSAMPLING_MODES}, found {self.upsampling!r}"
            )
        if not self.age_scale > 0:
            raise ConfigError(f"age_scale: expected a positive number, found {self.age_scale}")
        if not (math.isfinite(self.age_mean) and math.isfinite(self.age_sd) and self.age_sd > 0):
            raise ConfigError(
                "age_mean and age_sd: expected finite numbers with age_sd > 0, found "
                f"{self.age_mean} and {self.age_sd}"
            )
        if not 0.0 <= self.age_dropout < 1.0:
            raise ConfigError(f"age_dropout: expected 0 <= p < 1, found {self.age_dropout}")

    @property
    def method(self) -> Method:
        """The registered method this model implements."""
        return get_method(self.kind)

    @property
    def uses_age_input(self) -> bool:
        """True when the forward pass needs the chronological age (the latent is scaled by it)."""
        return self.method.uses_age_input

    @property
    def has_age_head(self) -> bool:
        """True when the model predicts the brain age."""
        return self.method.has_age_head

    @property
    def needs_age(self) -> bool:
        """True when training needs every subject's age (age input or age head)."""
        return self.method.needs_age

    def level_shapes(self) -> list[tuple[int, int, int]]:
        """Spatial shapes from the input (level 0) to the deepest encoder level.

        A stride-2 convolution with kernel k and padding k//2 maps a size n to ceil(n/2); the
        decoder reproduces each of these shapes exactly (see :mod:`brainuad.models.layers`).
        """
        shapes = [self.input_shape]
        for _ in self.channels:
            shapes.append(tuple((s + 1) // 2 for s in shapes[-1]))  # type: ignore[misc]
        return shapes

    @property
    def flat_features(self) -> int:
        """Length of the flattened encoder features that feed the dense bottleneck."""
        deepest = self.level_shapes()[-1]
        return self.bottleneck_channels * deepest[0] * deepest[1] * deepest[2]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; raises :class:`ConfigError` on unknown or bad fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"model config: unknown field(s) {unknown}")
        kw = dict(data)
        for key in ("input_shape", "channels"):
            if key in kw:
                kw[key] = tuple(kw[key])
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"model config: {exc}") from exc
