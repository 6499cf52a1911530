"""Streaming batches from the memory-mapped cache.

Only the volumes of the current batch are read (copied out of the memory map), so memory use
does not grow with the cohort. The order of an epoch is a pure function of ``(seed, epoch)``:
nothing has to be saved to reproduce it after a restart, and every DDP process computes the same
order. Each global batch of ``batch_size`` volumes is split between the ``world_size``
processes (process ``r`` takes items ``r, r + W, ...``); a short last batch is topped up with
volumes from the start of the epoch so that every process takes the same number of steps with
the same local batch size, like ``torch.utils.data.DistributedSampler``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from brainuad.errors import CacheError
from brainuad.io.cache import Cache


def select_subjects(cache: Cache, split: str, *, needs_age: bool) -> np.ndarray:
    """Indices of the healthy (label 0) subjects of ``split``; check their ages if needed."""
    idx = cache.indices(split=split, label=0)
    if needs_age and len(idx):
        ages = cache_ages(cache)[idx]
        bad = idx[~np.isfinite(ages)]
        if len(bad):
            sid = cache.subjects["subject_id"].iloc[int(bad[0])]
            raise CacheError(
                f"{cache.root}: the model needs the age of every {split} subject, but {len(bad)} "
                f"have none (first: {sid}); add ages to the manifest and preprocess again"
            )
    return idx


def cache_ages(cache: Cache) -> np.ndarray:
    """Ages (years) of all cached subjects as float64, NaN where unknown."""
    return pd.to_numeric(cache.subjects["age"], errors="coerce").to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class VolumeStream:
    """Batches of ``(volumes, ages)`` for a set of cache indices.

    Attributes:
        cache: the opened cache (volumes memory-mapped).
        indices: cache indices of the subjects to stream.
        batch_size: global batch size (all processes together).
        seed: seeds the per-epoch shuffling.
        rank, world_size: this process's share of every batch.
        shuffle: shuffle every epoch (training) or keep cache order (validation).
    """

    cache: Cache
    indices: np.ndarray
    batch_size: int
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    shuffle: bool = True
    ages: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ages", cache_ages(self.cache).astype(np.float32))

    def __len__(self) -> int:
        """Batches (= optimiser steps) per epoch."""
        return -(-len(self.indices) // self.batch_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """All indices in the order of ``epoch`` (the same in every process)."""
        if not self.shuffle:
            return np.asarray(self.indices)
        rng = np.random.default_rng([int(self.seed), int(epoch)])
        return np.asarray(self.indices)[rng.permutation(len(self.indices))]

    def local_batches(self, epoch: int) -> list[np.ndarray]:
        """This process's part of every batch of ``epoch``, in step order."""
        order = self.epoch_order(epoch)
        batches = []
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            short = (-len(batch)) % self.world_size
            if short:
                batch = np.concatenate([batch, np.resize(order, short)])
            batches.append(batch[self.rank :: self.world_size])
        return batches

    def load(
        self, idx: np.ndarray, device: torch.device, channels_last: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Read volumes ``idx`` from the memory map: ``(x (B,1,X,Y,Z) float32, age (B,))``."""
        vols = np.asarray(self.cache.volumes[np.asarray(idx)], dtype=np.float32)
        x = torch.from_numpy(vols).unsqueeze(1)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        ages = torch.from_numpy(self.ages[np.asarray(idx)])
        non_blocking = device.type == "cuda"
        if non_blocking:
            x = x.pin_memory()
        return x.to(device, non_blocking=non_blocking), ages.to(device)
