"""Device selection and PyTorch DDP set-up.

``brainuad train`` runs as one process, or as several under ``torchrun`` (which sets
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``): with
``WORLD_SIZE > 1`` the process group is initialised with NCCL on CUDA and gloo on CPU, each
process takes its share of every batch, gradients are averaged by
:class:`torch.nn.parallel.DistributedDataParallel`, and only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from brainuad.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DistContext:
    """Where this process runs and which share of the work it does."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True for the process that writes files and shows progress (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` uses GPU ``local_rank``."""
    if device not in DEVICES:
        raise ConfigError(f"device: expected one of {DEVICES}, found {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device: 'cuda' was requested but no CUDA GPU is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def setup(device: str = "auto") -> DistContext:
    """Resolve the device and, under ``torchrun`` (``WORLD_SIZE > 1``), join the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1:
        return DistContext(dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        owns = True
    return DistContext(dev, dist.get_rank(), dist.get_world_size(), local_rank, owns)


def teardown(ctx: DistContext) -> None:
    """Leave the process group if :func:`setup` created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a float64 tensor over all processes (a copy; identity in a single process)."""
    out = values.detach().clone()
    if ctx.distributed:
        buf = out.to(ctx.device)
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        out = buf.cpu()
    return out


def wrap_model(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """Wrap ``model`` in DistributedDataParallel when several processes train together."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def sync_buffers(model: torch.nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process.

    DDP broadcasts buffers at the start of each forward pass, so after the last step of an
    epoch each process holds its own running statistics; this makes the replicas identical
    before validation and checkpointing.
    """
    if not ctx.distributed:
        return
    for buf in model.buffers():
        dist.broadcast(buf.data, src=0)
