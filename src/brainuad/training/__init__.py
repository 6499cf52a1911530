"""Training engine: presets, streaming from the cache, safe checkpoints, resume, DDP.

* :func:`train` (``brainuad train``) -> :class:`TrainResult`
* :class:`TrainConfig`, :func:`preset` (``paper``, ``cpu``, ``tiny``)
* :func:`load_checkpoint` -> ``(model in eval mode, state dict)``: safetensors + JSON, never
  unpickles anything.
"""

from brainuad.training.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    read_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from brainuad.training.config import PRESET_NAMES, TrainConfig, preset
from brainuad.training.engine import TrainResult, train
from brainuad.training.run import LOG_COLUMNS

__all__ = [
    "LOG_COLUMNS",
    "PRESET_NAMES",
    "TrainConfig",
    "TrainResult",
    "checkpoint_path",
    "load_checkpoint",
    "preset",
    "read_checkpoint",
    "resolve_checkpoint",
    "save_checkpoint",
    "train",
]
