"""Training configuration and presets.

A :class:`TrainConfig` holds the optimisation settings and the architecture widths; the input
shape comes from the cache and the model kind from the command, so
``config.model_config(kind, cache.shape)`` gives the full :class:`~brainuad.models.ModelConfig`.

Presets (:func:`preset`):

* ``paper``: the paper's settings: n_z 2048, Adam lr 1e-3, batch 32, 400 epochs, beta = gamma
  = 1, channel widths 32-64-128-256 with kernel 5, full precision (the paper trained in
  float32; ``amp: true`` turns on mixed precision on CUDA), meant for a GPU.
* ``cpu``: a reduced network (8-16-32-64, n_z 256, batch 4, 20 epochs) that trains
  meaningfully on 2 idle CPU cores in about 2 minutes on 64x77x66 volumes and ~100 training
  subjects (about 25 volumes/s; see ``docs/benchmarks/models.md``). Its learning rate follows
  a cosine decay to 0 (``lr_schedule: cosine``): in a run this short, a constant rate leaves
  the age head's prediction swinging by years from epoch to epoch, and the last checkpoint is
  the one scored (``docs/benchmarks/brain-age.md``).
* ``tiny``: a toy network for tests and smoke runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brainuad.errors import ConfigError
from brainuad.methods import baseline_method
from brainuad.models.config import ModelConfig
from brainuad.models.losses import DEFAULT_REDUCTION, REDUCTIONS

PRESET_NAMES = ("paper", "cpu", "tiny")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run besides the data and the model kind.

    Attributes:
        epochs: number of passes over the healthy training subjects.
        batch_size: volumes per optimiser step, summed over all processes under DDP.
        lr: Adam learning rate.
        beta, gamma: weights of the KL and age terms in eq. (2).
        reduction: per-volume reduction of the loss terms, which decides what ``gamma`` weighs
            (see :mod:`brainuad.models.losses`).
        seed: seeds weight initialisation, data order and the reparameterisation noise.
        channels, n_z, kernel_size, bottleneck_channels, upsampling, age_scale, age_hidden,
            age_dropout, age_norm: architecture, see :class:`~brainuad.models.ModelConfig`.
        age_weight_decay: L2 weight decay (Adam's ``weight_decay``) on the age head's
            parameters only; 0 = none.
        lr_schedule: ``constant`` (the paper: Adam at ``lr`` throughout) or ``cosine`` (the rate
            follows half a cosine from ``lr`` to 0 over all optimiser steps of ``epochs``; on a
            resumed run with more epochs the curve is stretched from that point on).
        age_lr_scale: learning rate of the age head's parameters as a multiple of ``lr``.
            Adam moves every weight by about ``lr`` per step whatever its gradient, so a linear
            head over thousands of features moves its output by ``lr`` times their summed
            magnitude per step: a smaller rate steadies the predicted age.
        checkpoint_every: also write the ``last`` checkpoint every this many optimiser steps
            (0: only at the end of each epoch).
        bn_recalibration: at the end of each epoch, re-estimate the BatchNorm running
            statistics from this many training volumes with the current weights (``z = mu``),
            so that evaluation-mode validation, checkpoints and scoring use statistics that match
            the weights; 0 keeps PyTorch's running averages (the paper's setting). Matters for
            short runs, where the running averages lag far behind the changing weights.
        channels_last: keep activations in ``channels_last_3d`` memory format (faster on CPU
            and with cuDNN; does not change results beyond rounding).
        amp: mixed precision on CUDA (bfloat16 where supported, else float16 with loss
            scaling); ignored on CPU. Off by default: the paper trained in full precision.
        preset: name of the preset this configuration came from (informational).
    """

    epochs: int = 400
    batch_size: int = 32
    lr: float = 1e-3
    lr_schedule: str = "constant"
    beta: float = 1.0
    gamma: float = 1.0
    reduction: str = DEFAULT_REDUCTION
    seed: int = 0
    channels: tuple[int, ...] = (32, 64, 128, 256)
    n_z: int = 2048
    kernel_size: int = 5
    bottleneck_channels: int = 16
    upsampling: str = "transpose"
    age_scale: float = 100.0
    age_hidden: int = 0
    age_dropout: float = 0.0
    age_norm: bool = True
    age_weight_decay: float = 0.0
    age_lr_scale: float = 1.0
    checkpoint_every: int = 0
    bn_recalibration: int = 0
    channels_last: bool = True
    amp: bool = False
    preset: str = "paper"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(
                f"epochs and batch_size must be >= 1, found {self.epochs} and {self.batch_size}"
            )
        if not self.lr > 0 or self.beta < 0 or self.gamma < 0:
            raise ConfigError(
                f"lr must be > 0 and beta, gamma >= 0, found {self.lr}, {self.beta}, {self.gamma}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"lr_schedule: expected one of {', '.join(LR_SCHEDULES)}, found "
                f"{self.lr_schedule!r}"
            )
        if self.reduction not in REDUCTIONS:
            raise ConfigError(
                f"reduction: expected one of {', '.join(REDUCTIONS)}, found {self.reduction!r}"
            )
        if not self.age_weight_decay >= 0 or not self.age_lr_scale > 0:
            raise ConfigError(
                "age_weight_decay must be >= 0 and age_lr_scale > 0, found "
                f"{self.age_weight_decay} and {self.age_lr_scale}"
            )
        if self.checkpoint_every < 0 or self.bn_recalibration < 0:
            raise ConfigError(
                "checkpoint_every and bn_recalibration must be >= 0, found "
                f"{self.checkpoint_every} and {self.bn_recalibration}"
            )
        # validate the architecture fields early (any kind and shape will do)
        self.model_config(baseline_method(), (8, 8, 8))

    def model_config(
        self,
        kind: str,
        input_shape: tuple[int, int, int],
        age_stats: tuple[float, float] | None = None,
    ) -> ModelConfig:
        """The :class:`ModelConfig` for ``kind`` on volumes of ``input_shape``.

        ``age_stats`` = (mean, SD) of the healthy training ages for the age head (default: the
        :class:`ModelConfig` defaults).
        """
        stats = {} if age_stats is None else {"age_mean": age_stats[0], "age_sd": age_stats[1]}
        return ModelConfig(
            kind=kind,
            input_shape=tuple(input_shape),  # type: ignore[arg-type]
            channels=self.channels,
            kernel_size=self.kernel_size,
            n_z=self.n_z,
            bottleneck_channels=self.bottleneck_channels,
            upsampling=self.upsampling,
            age_scale=self.age_scale,
            age_hidden=self.age_hidden,
            age_dropout=self.age_dropout,
            age_norm=self.age_norm,
            **stats,
        )

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; raises :class:`ConfigError` on unknown or bad fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"training config: unknown field(s) {unknown}")
        kw = dict(data)
        defaults = cls()
        for key, value in kw.items():
            _check_type(key, value, getattr(defaults, key))
        if "channels" in kw:
            kw["channels"] = tuple(kw["channels"])
        try:
            return cls(**kw)
        except TypeError as exc:
            raise ConfigError(f"training config: {exc}") from exc


def _check_type(key: str, value: Any, default: Any) -> None:
    """:class:`ConfigError` when ``value`` is not of the kind of the field's ``default``."""
    if value is None and default is None:
        return
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        kinds = (int,) if isinstance(default, int) else (int, float)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        kind = "a whole number" if isinstance(default, int) else "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    elif isinstance(default, tuple):
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        kind = "a list of whole numbers"
    else:
        return
    if not ok:
        raise ConfigError(f"training config: {key} must be {kind}, found {value!r}")


def preset(name: str) -> TrainConfig:
    """The named preset: ``paper``, ``cpu`` or ``tiny`` (see the module docstring)."""
    if name == "paper":
        return TrainConfig(preset="paper")
    if name == "cpu":
        return TrainConfig(
            epochs=20,
            batch_size=4,
            lr=1e-3,
            lr_schedule="cosine",
            channels=(8, 16, 32, 64),
            n_z=256,
            bottleneck_channels=16,
            bn_recalibration=32,
            preset="cpu",
        )
    if name == "tiny":
        return TrainConfig(
            epochs=3,
            batch_size=4,
            lr=1e-3,
            channels=(4, 8),
            n_z=16,
            bottleneck_channels=4,
            bn_recalibration=8,
            preset="tiny",
        )
    raise ConfigError(f"preset: expected one of {PRESET_NAMES}, found {name!r}")


def differing_fields(a: TrainConfig, b: TrainConfig, ignore: tuple[str, ...] = ()) -> list[str]:
    """Names of the fields whose values differ between ``a`` and ``b``."""
    return [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name not in ignore and getattr(a, f.name) != getattr(b, f.name)
    ]
