"""Checkpoints: weights in safetensors, state as JSON; written atomically, loaded safely.

A checkpoint ``checkpoints/<which>.safetensors`` holds the model's parameters and buffers
(``model.*``) and, for ``last``, the optimiser tensors (``optim.<param>.<name>``). Its header
metadata carries the whole state as JSON (model and training config, preprocessing
fingerprint, seed, position, metrics, history, optimiser scalars), so weights and state can
never disagree. ``<which>.json`` is a readable copy of that state written right after, with the
SHA-256 of the weights file. A second metadata key, ``brainuad_sha256``, is the SHA-256 of the
state JSON and of every tensor (name, dtype, shape, bytes): a flipped byte anywhere in the file
is refused on load. Both files are replaced atomically (temporary file + rename): a process
killed at any moment leaves the previous checkpoint loadable.

Nothing is ever unpickled: pickle-based files (``.pt``, ``.pth``, ``.ckpt``, ``.pkl``) are
refused with a :class:`~brainuad.errors.CheckpointError`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from brainuad.errors import CheckpointError, ConfigError
from brainuad.io.atomic import atomic_path, write_json_atomic
from brainuad.models import VAE, ModelConfig, build_model

CHECKPOINT_FORMAT = "brainuad-checkpoint"
# 2: age head a_p = age_mean + age_sd * head(features); 3: content hash of state + tensors
CHECKPOINT_VERSION = 3
DIGEST_KEY = "brainuad_sha256"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin")
WHICH = ("last", "best")


def checkpoint_path(run_dir: str | Path, which: str) -> Path:
    """``RUN_DIR/checkpoints/<which>.safetensors``."""
    return Path(run_dir) / "checkpoints" / f"{which}.safetensors"


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    state: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Write ``model`` (+ ``optimizer``) and ``state`` to ``path`` and its ``.json`` sidecar."""
    path = Path(path)
    tensors = {f"model.{k}": _cpu(v) for k, v in model.state_dict().items()}
    state = {**state, "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION}
    if optimizer is not None:
        osd = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for pid, entry in osd["state"].items():
            for key, value in entry.items():
                if torch.is_tensor(value):
                    tensors[f"optim.{pid}.{key}"] = _cpu(value)
                else:
                    scalars.setdefault(str(pid), {})[key] = value
        state["optimizer"] = {"param_groups": osd["param_groups"], "scalars": scalars}
    blob = json.dumps(state, sort_keys=True, allow_nan=False)
    meta = {"brainuad": blob, DIGEST_KEY: content_digest(blob, tensors)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    write_json_atomic(path.with_suffix(".json"), {**state, "weights_sha256": digest})


def content_digest(blob: str, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a checkpoint's state JSON and of each tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256(blob.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"\n{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu").contiguous()


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors on CPU, metadata)`` of a safetensors file; :class:`CheckpointError` if bad.

    safetensors holds only raw tensors and a JSON header, so reading never unpickles anything.
    """
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    return tensors, dict(meta)


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint file safely: ``(tensors, state)``; :class:`CheckpointError` if bad."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: expected a .safetensors checkpoint, found a pickle-based {path.suffix} "
            "file (refused: unpickling can run arbitrary code)"
        )
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    tensors, meta = read_safetensors(path)
    try:
        state = json.loads(meta["brainuad"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: expected brainuad checkpoint metadata, found none") from exc
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: expected format {CHECKPOINT_FORMAT!r}, found {state.get('format')!r}"
        )
    if state.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {state.get('format_version')} is not supported "
            f"(this brainuad reads version {CHECKPOINT_VERSION}; earlier versions carry no "
            "content hash): re-train the model with this release"
        )
    digest = content_digest(meta["brainuad"], tensors)
    if meta.get(DIGEST_KEY) != digest:
        raise CheckpointError(
            f"{path}: content SHA-256 {digest[:16]}... does not match the recorded "
            f"{str(meta.get(DIGEST_KEY))[:16]}...: the checkpoint is corrupted or was modified "
            "(re-train, or restore it from a backup)"
        )
    return tensors, state


def restore_model(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Copy the ``model.*`` tensors into ``model``; :class:`CheckpointError` on any mismatch."""
    own = model.state_dict()
    saved = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    missing = sorted(set(own) - set(saved))
    extra = sorted(set(saved) - set(own))
    if missing or extra:
        raise CheckpointError(
            f"{path}: checkpoint tensors do not match the model (missing {missing[:3]}, "
            f"unexpected {extra[:3]})"
        )
    for key, value in own.items():
        if tuple(saved[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{path}: tensor {key} has shape {tuple(saved[key].shape)} in the checkpoint, "
                f"the model expects {tuple(value.shape)}"
            )
    model.load_state_dict(saved)


def restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], state: dict[str, Any]
) -> None:
    """Rebuild the optimiser state saved by :func:`save_checkpoint`."""
    saved = state.get("optimizer")
    if saved is None:
        raise CheckpointError("checkpoint holds no optimiser state (is it a 'best' checkpoint?)")
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            per_param.setdefault(int(pid), {})[name] = value
    for pid, scalars in saved["scalars"].items():
        per_param.setdefault(int(pid), {}).update(scalars)
    optimizer.load_state_dict({"state": per_param, "param_groups": saved["param_groups"]})


def resolve_checkpoint(run_dir_or_file: str | Path, which: str = "best") -> Path:
    """A run folder, its ``checkpoints`` folder or a ``.safetensors`` file -> the file."""
    if which not in WHICH:
        raise ConfigError(f"which: expected one of {WHICH}, found {which!r}")
    p = Path(run_dir_or_file)
    if p.is_dir():
        for cand in (checkpoint_path(p, which), p / f"{which}.safetensors"):
            if cand.is_file():
                return cand
        raise CheckpointError(
            f"{p}: no {which!r} checkpoint found (expected checkpoints/{which}.safetensors)"
        )
    return p


def load_checkpoint(
    run_dir_or_file: str | Path,
    which: str = "best",
    map_location: str | torch.device = "cpu",
    *,
    expected_shape: tuple[int, int, int] | None = None,
) -> tuple[VAE, dict[str, Any]]:
    """Rebuild a trained model from a run folder or checkpoint file, in eval mode.

    Returns ``(model, state)``; ``state`` holds ``kind``, ``model`` (ModelConfig dict),
    ``train`` (TrainConfig dict), ``fingerprint``, ``seed``, ``epoch``, ``metrics`` and
    ``history``. ``expected_shape`` (e.g. ``cache.shape``) is checked against the model's input
    shape. Raises :class:`CheckpointError` for anything missing, corrupt or incompatible.
    """
    path = resolve_checkpoint(run_dir_or_file, which)
    tensors, state = read_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(state["model"])
    except (KeyError, ConfigError) as exc:
        raise CheckpointError(f"{path}: invalid model configuration in checkpoint ({exc})") from exc
    if expected_shape is not None and tuple(expected_shape) != cfg.input_shape:
        raise CheckpointError(
            f"{path}: the model expects volumes of shape {cfg.input_shape}, the data has "
            f"{tuple(expected_shape)}"
        )
    model = build_model(cfg, seed=int(state.get("seed", 0)))
    restore_model(model, tensors, path)
    model.to(map_location)
    model.eval()
    return model, state
