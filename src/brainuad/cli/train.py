"""``brainuad train``: train one method's VAE (:mod:`brainuad.methods`) on the healthy training
subjects."""

from __future__ import annotations

import contextlib
import os
from enum import Enum
from pathlib import Path

import typer

from brainuad.errors import ConfigError
from brainuad.methods import all_methods, export_preference, is_method, method_ids

TRAIN_HELP = (
    "Train the VAE of one method (--model) on the healthy training subjects of a preprocessed "
    "cache, "
    "with the validation loss of the healthy validation subjects after every epoch.\n\n"
    "Writes RUN_DIR/config.json, RUN_DIR/checkpoints/{best,last}.safetensors (weights; state in "
    "the .json beside them) and RUN_DIR/log.csv. A killed run continues with --resume.\n\n"
    "Several GPUs or nodes: launch the same command under torchrun, e.g. "
    f"`torchrun --nproc_per_node=4 -m brainuad train CACHE -m {export_preference()[0]} -o RUN`."
)


def _model_help() -> str:
    """The registered methods and their help lines (the ``--model`` help)."""
    return "; ".join(f"{m.id}: {m.help}" for m in all_methods()) + "."


def _check_model(value: str) -> str:
    if not is_method(value):
        raise typer.BadParameter(f"expected one of {', '.join(method_ids())}, found {value!r}")
    return value


class Preset(str, Enum):
    paper = "paper"
    cpu = "cpu"
    tiny = "tiny"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def train_command(
    cache: Path = typer.Argument(..., help="Preprocessed cache folder (`brainuad preprocess`)."),
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        callback=_check_model,
        metavar="|".join(method_ids()),
        help=_model_help(),
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to create (or to resume)."),
    preset_name: Preset | None = typer.Option(
        None,
        "--preset",
        help="paper: n_z 2048, batch 32, 400 epochs (GPU); cpu: small net, minutes on 2 cores; "
        "tiny: smoke test. Default: paper on CUDA, cpu otherwise.",
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override the epochs."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Global batch size."),
    lr: float | None = typer.Option(None, "--lr", help="Adam learning rate."),
    seed: int | None = typer.Option(None, "--seed", help="Seed (weights, data order, noise)."),
    splits: Path | None = typer.Option(
        None, "--splits", help="Splits CSV (`brainuad split`); default: the cache's split column."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out from its last checkpoint."
    ),
    device: Device = typer.Option(Device.auto, "--device", help="auto picks CUDA if available."),
    checkpoint_every: int | None = typer.Option(
        None, "--checkpoint-every", min=0, help="Also checkpoint every N steps (0: per epoch)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="CPU threads for PyTorch (default: PyTorch's choice)."
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: when stderr is a TTY)."
    ),
) -> None:
    """Train a model (see TRAIN_HELP)."""
    import torch

    from brainuad.training import preset, train
    from brainuad.training.run import read_run_config

    if threads is not None:
        torch.set_num_threads(threads)
    overrides = {
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "checkpoint_every": checkpoint_every,
    }
    main = int(os.environ.get("RANK", "0")) == 0
    if resume:
        changed = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None]
        if preset_name is not None or changed:
            raise ConfigError(
                f"{out}: --resume keeps the run's settings; only --epochs may be given, found "
                f"{', '.join(changed + (['--preset'] if preset_name is not None else []))}"
            )
        config = read_run_config(out).replace(epochs=epochs)
    else:
        name = preset_name.value if preset_name is not None else None
        if name is None:
            name = "paper" if device != Device.cpu and torch.cuda.is_available() else "cpu"
            if main:
                typer.echo(f"preset: {name}", err=True)
        config = preset(name).replace(epochs=epochs, **overrides)
    from brainuad.io.lock import folder_lock

    # under torchrun every rank runs this command on the same --out: rank 0 holds the lock
    lock = folder_lock(out, "brainuad train", clean="tree") if main else contextlib.nullcontext()
    with lock:
        result = train(
            cache,
            model,
            out,
            config,
            splits=splits,
            resume=resume,
            device=device.value,
            progress=progress,
        )
    if main:
        best = "-" if result.best_value is None else f"{result.best_value:.6g}"
        typer.echo(
            f"{result.kind}: {result.epochs_completed} epochs, {result.global_step} steps; best "
            f"{result.best_metric} {best} at epoch {result.best_epoch}; run folder {result.run_dir}"
        )


def register(app: typer.Typer) -> None:
    """Add ``brainuad train`` to the CLI."""
    app.command("train", help=TRAIN_HELP)(train_command)
