"""Streaming batches from the memory-mapped cache; deterministic order; DDP sharding."""

from __future__ import annotations

import numpy as np
import torch
from training_synth import make_cache

from brainuad.training.data import VolumeStream, select_subjects


def test_epoch_order_is_a_seeded_permutation(tiny_cache):
    idx = tiny_cache.indices(split="train", label=0)
    s = VolumeStream(tiny_cache, idx, batch_size=3, seed=4)
    o0, o0b, o1 = s.epoch_order(0), s.epoch_order(0), s.epoch_order(1)
    assert sorted(o0) == sorted(idx) and np.array_equal(o0, o0b)
    assert not np.array_equal(o0, o1)
    assert not np.array_equal(o0, VolumeStream(tiny_cache, idx, 3, seed=5).epoch_order(0))
    assert len(s) == 3
    assert [len(b) for b in s.local_batches(0)] == [3, 3, 2]


def test_ddp_shards_cover_every_batch_with_equal_sizes(tiny_cache):
    idx = tiny_cache.indices(split="train", label=0)  # 8 subjects
    full = VolumeStream(tiny_cache, idx, batch_size=3, seed=1)
    parts = [VolumeStream(tiny_cache, idx, 3, seed=1, rank=r, world_size=2) for r in (0, 1)]
    b0, b1 = parts[0].local_batches(2), parts[1].local_batches(2)
    assert len(b0) == len(b1) == 3
    for ref, x, y in zip(full.local_batches(2), b0, b1, strict=True):
        assert len(x) == len(y)
        assert set(ref) <= set(x) | set(y)


def test_load_reads_only_the_batch(tiny_cache):
    s = VolumeStream(tiny_cache, tiny_cache.indices(split="train"), batch_size=2)
    x, age = s.load(np.array([3, 1]), torch.device("cpu"), channels_last=True)
    assert x.shape == (2, 1, *tiny_cache.shape) and x.dtype == torch.float32
    assert np.array_equal(x[0, 0].numpy(), tiny_cache.volumes[3])
    assert torch.allclose(age, torch.tensor(tiny_cache.subjects["age"].to_numpy()[[3, 1]]).float())


def test_select_subjects_keeps_healthy_only(tmp_path):
    cache = make_cache(tmp_path / "c", labels=[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    assert list(select_subjects(cache, "train", needs_age=True)) == list(range(1, 8))
    assert list(select_subjects(cache, "val", needs_age=False)) == [9]
