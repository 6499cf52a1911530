"""Checkpoints: safetensors round trip, safe loading, atomic replacement."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from safetensors.torch import save_file

from brainuad.errors import CheckpointError
from brainuad.models import ModelConfig, build_model, vae_loss
from brainuad.training import checkpoint as ckpt
from brainuad.training import load_checkpoint, read_checkpoint, save_checkpoint

CFG = ModelConfig(
    kind="vae-ap", input_shape=(12, 14, 13), channels=(2, 4), n_z=4, bottleneck_channels=2
)


def _state(cfg=CFG) -> dict:
    return {"kind": cfg.kind, "model": cfg.to_dict(), "seed": 0, "epoch": 1}


def _trained(seed: int = 0):
    model = build_model(CFG, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, age = torch.rand(2, 1, 12, 14, 13), torch.tensor([30.0, 50.0])
    g = torch.Generator().manual_seed(0)
    for _ in range(2):
        opt.zero_grad()
        vae_loss(model(x, age, generator=g), x, age).total.backward()
        opt.step()
    return model, opt, x, age


def _step(model, opt, x, age):
    opt.zero_grad()
    vae_loss(model(x, age, generator=torch.Generator().manual_seed(9)), x, age).total.backward()
    opt.step()


def test_safetensors_round_trip_with_optimizer(tmp_path):
    model, opt, x, age = _trained()
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, model, _state(), opt)
    tensors, state = read_checkpoint(path)
    assert state["kind"] == "vae-ap" and state["format"] == "brainuad-checkpoint"
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    fresh = build_model(CFG, seed=5)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    ckpt.restore_model(fresh, tensors, path)
    ckpt.restore_optimizer(fresh_opt, tensors, state)
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    _step(model, opt, x, age)
    _step(fresh, fresh_opt, x, age)
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_load_checkpoint_builds_eval_model_and_checks_shape(tmp_path):
    model, *_ = _trained()
    save_checkpoint(tmp_path / "checkpoints" / "best.safetensors", model, _state())
    loaded, state = load_checkpoint(tmp_path)  # run folder, best by default
    assert not loaded.training and state["seed"] == 0
    assert torch.equal(loaded.fc_mu.weight, model.fc_mu.weight)
    with pytest.raises(CheckpointError, match=r"expects volumes of shape \(12, 14, 13\)"):
        load_checkpoint(tmp_path, expected_shape=(64, 77, 66))
    with pytest.raises(CheckpointError, match="no 'last' checkpoint found"):
        load_checkpoint(tmp_path, "last")


def test_pickles_are_refused(tmp_path):
    model, *_ = _trained()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="pickle-based .pt file"):
        load_checkpoint(path)


def test_bad_files_are_reported(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(junk)
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))
    with pytest.raises(CheckpointError, match="brainuad checkpoint metadata"):
        load_checkpoint(bare)


def test_tensor_shape_mismatch_is_reported(tmp_path):
    other = ModelConfig(
        kind="vae-ap", input_shape=(12, 14, 13), channels=(3, 4), n_z=4, bottleneck_channels=2
    )
    path = tmp_path / "x.safetensors"
    save_checkpoint(path, build_model(other), _state(CFG))  # state claims another width
    with pytest.raises(CheckpointError, match=r"encoder.0.0.weight has shape \(3, 1, 5, 5, 5\)"):
        load_checkpoint(path)


def test_interrupted_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    old, *_ = _trained(seed=0)
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, old, _state())
    new, *_ = _trained(seed=1)

    def dying_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt  # stands in for a kill during the write

    monkeypatch.setattr(ckpt, "save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, new, _state())
    loaded, _ = load_checkpoint(path)
    assert torch.equal(loaded.fc_mu.weight, old.fc_mu.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.json", "last.safetensors"]


def test_a_flipped_byte_anywhere_is_detected(tmp_path):
    model, opt, *_ = _trained()
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, model, _state(), opt)
    data = path.read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    # in the last weight's bytes, in the first tensor's bytes, in the state JSON's text
    seed_pos = data.index(b'seed\\": 0') + len(b'seed\\": ')  # "seed": 0 becomes 1
    for pos in (len(data) - 3, header + 1, seed_pos):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        flipped = tmp_path / f"flip{pos}.safetensors"
        flipped.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match=rf"flip{pos}\.safetensors: content SHA-256"):
            load_checkpoint(flipped)
    load_checkpoint(path)  # the original still loads


def test_checkpoint_of_an_earlier_format_is_refused_with_re_train(tmp_path):
    path = tmp_path / "old.safetensors"
    model = build_model(CFG)
    state = {**_state(), "format": ckpt.CHECKPOINT_FORMAT, "format_version": 2}
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"brainuad": json.dumps(state)})
    with pytest.raises(
        CheckpointError,
        match=r"old\.safetensors: checkpoint format version 2 .*"
        r"re-train",
    ):
        load_checkpoint(path)
