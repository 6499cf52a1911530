"""Two DDP processes on CPU (gloo) keep identical replicas; only rank 0 writes files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from brainuad.training import preset, read_checkpoint, train
from brainuad.training.checkpoint import checkpoint_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, cache: str, out: str, dump: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    cfg = preset("tiny").replace(epochs=2, batch_size=4)
    res = train(cache, "vae-ap", out, cfg, device="cpu", progress=False)
    state = {k: v.detach().contiguous() for k, v in res.model.state_dict().items()}
    save_file(state, str(Path(dump) / f"rank{rank}.safetensors"))


def test_two_processes_hold_identical_weights(tiny_cache, tmp_path):
    out, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    args = (2, _free_port(), str(tiny_cache.root), str(out), str(dump))
    mp.start_processes(_worker, args=args, nprocs=2, join=True, start_method="spawn")
    a = load_file(str(dump / "rank0.safetensors"))
    b = load_file(str(dump / "rank1.safetensors"))
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the weights moved away from the initialisation, and rank 0 saved exactly them
    tensors, state = read_checkpoint(checkpoint_path(out, "last"))
    assert state["position"]["global_step"] == 4  # 8 subjects / global batch 4 x 2 epochs
    for key, value in a.items():
        assert torch.equal(tensors[f"model.{key}"], value), key
    from brainuad.models import build_model
    from brainuad.training.checkpoint import load_checkpoint

    model, _ = load_checkpoint(out, "last")
    init = build_model(model.config, seed=0).state_dict()
    assert not torch.equal(init["fc_mu.weight"], a["fc_mu.weight"])
    record = (out / "config.json").read_text()
    assert '"world_size": 2' in record


@pytest.mark.slow
def test_torchrun_launches_the_same_command(tiny_cache, tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        "-m",
        "brainuad",
        "train",
        str(tiny_cache.root),
        *"-m vae-ap --preset tiny --epochs 1 --batch-size 4 --device cpu --threads 1".split(),
        "--no-progress",
        "-o",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("vae-ap: 1 epochs, 2 steps") == 1  # printed by rank 0 only
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
