"""The training loop: healthy training volumes in, checkpoints and a CSV log out.

Determinism: the weights come from ``seed``; the order of epoch ``e`` from ``(seed, e)``; the
reparameterisation noise of optimiser step ``s`` on process ``r`` from ``(seed, r, s)``. None of
these needs saved RNG state, so a run resumed from any checkpoint (end of epoch, or every
``checkpoint_every`` steps) retraces the uninterrupted run: on CPU the final weights agree to
float rounding (tested with a SIGKILL mid-epoch).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from brainuad.errors import ConfigError
from brainuad.models import VAE, build_model, vae_loss
from brainuad.training.checkpoint import (
    checkpoint_path,
    restore_model,
    restore_optimizer,
    save_checkpoint,
)
from brainuad.training.config import TrainConfig
from brainuad.training.data import VolumeStream, cache_ages
from brainuad.training.distributed import (
    DistContext,
    all_reduce_sum,
    setup,
    sync_buffers,
    teardown,
    wrap_model,
)
from brainuad.training.run import RunPlan, plan_run, write_log, write_run_record

# order of the running sums: rec, kl, age, total (each summed over volumes), volume count
_N_SUMS = 5


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        run_dir: the run folder.
        kind: model kind.
        epochs_completed: epochs finished (equals the configured epochs when done).
        global_step: optimiser steps taken.
        best_epoch: epoch (1-based) of the best checkpoint, ``None`` if no epoch finished.
        best_metric: ``"val_loss"``, or ``"train_loss"`` when there is no validation subject.
        best_value: the best value of ``best_metric``.
        history: one dict per epoch (the rows of ``log.csv``).
        model: the trained model (last weights, evaluation mode, on the training device).
    """

    run_dir: Path
    kind: str
    epochs_completed: int
    global_step: int
    best_epoch: int | None
    best_metric: str
    best_value: float | None
    history: tuple[dict[str, Any], ...]
    model: VAE


def noise_seed(seed: int, rank: int, step: int) -> int:
    """Seed of the reparameterisation noise of optimiser step ``step`` on process ``rank``."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, dtype=np.uint64)[0])


def train(
    cache_dir: str | Path,
    model_kind: str,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    splits: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    progress: bool | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``model_kind`` (``vae``, ``vae-ac``, ``vae-ap``) on the healthy training subjects.

    Args:
        cache_dir: preprocessed cache (see :mod:`brainuad.io.cache`).
        model_kind: which of the paper's models to train.
        out_dir: run folder (created); must not hold a run unless ``resume``.
        config: settings (default: the ``paper`` preset); on resume, the saved settings are
            used and only ``epochs`` may differ.
        splits: optional splits CSV (``subject_id,split``) overriding the cache's split column.
        resume: continue from ``RUN_DIR/checkpoints/last.safetensors``.
        device: ``auto``, ``cpu`` or ``cuda``. Under ``torchrun`` each process joins the DDP
            group and only rank 0 writes files.
        progress: show a progress bar (``None``: only when stderr is a terminal).
        on_step: called with the global step number after every optimiser step (and after any
            checkpoint written at that step).

    Raises:
        CacheError, CheckpointError, ConfigError, InputFileError: for bad inputs.
    """
    plan = plan_run(cache_dir, model_kind, out_dir, config, splits=splits, resume=resume)
    ctx = setup(device)
    try:
        return _Trainer(plan, ctx).run(progress, on_step)
    finally:
        teardown(ctx)


class _Trainer:
    def __init__(self, plan: RunPlan, ctx: DistContext):
        self.plan, self.ctx = plan, ctx
        cfg: TrainConfig = plan.config
        self.cfg = cfg
        fmt = torch.channels_last_3d if cfg.channels_last else torch.contiguous_format
        self.model = build_model(plan.model_config, seed=cfg.seed)
        self.model.to(device=ctx.device, memory_format=fmt)
        self.optimizer = torch.optim.Adam(_param_groups(self.model, cfg), lr=cfg.lr)
        cuda = ctx.device.type == "cuda"
        self.amp = cfg.amp and cuda
        bf16 = cuda and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.amp and self.amp_dtype == torch.float16
        )
        self.generator = torch.Generator(device=ctx.device)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.sums = torch.zeros(_N_SUMS, dtype=torch.float64)
        if plan.last is not None:
            self._restore(*plan.last)
        self.train_stream = VolumeStream(
            plan.cache, plan.train_idx, cfg.batch_size, cfg.seed, ctx.rank, ctx.world_size
        )
        local_val = plan.val_idx[ctx.rank :: ctx.world_size]
        self.val_stream = VolumeStream(plan.cache, local_val, cfg.batch_size, shuffle=False)
        self.best_metric = "val_loss" if len(plan.val_idx) else "train_loss"
        self.val_age_mean_pred = _mean_predictor_mae(plan)

    # -- state ---------------------------------------------------------------------------
    def _restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        path = checkpoint_path(self.plan.run_dir, "last")
        restore_model(self.model, tensors, path)
        restore_optimizer(self.optimizer, tensors, state)
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        pos = state["position"]
        self.epoch, self.step_in_epoch = int(pos["epoch"]), int(pos["step_in_epoch"])
        self.global_step = int(pos["global_step"])
        self.history = list(state.get("history", []))
        self.best = state.get("best")
        if self.ctx.is_main and state.get("partial") is not None:
            self.sums = torch.tensor(state["partial"], dtype=torch.float64)

    def _state(self, which: str, partial: torch.Tensor | None) -> dict[str, Any]:
        plan = self.plan
        return {
            "which": which,
            "kind": plan.kind,
            "model": plan.model_config.to_dict(),
            "train": self.cfg.to_dict(),
            "fingerprint": plan.cache.fingerprint,
            "seed": self.cfg.seed,
            "epoch": self.epoch,
            "position": {
                "epoch": self.epoch,
                "step_in_epoch": self.step_in_epoch,
                "global_step": self.global_step,
            },
            "partial": None if partial is None else [float(v) for v in partial],
            "metrics": self.history[-1] if self.history else {},
            "best": self.best,
            "history": self.history,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }

    def _save(self, partial: torch.Tensor | None, best: bool) -> None:
        if not self.ctx.is_main:
            return
        run_dir = self.plan.run_dir
        if best:
            save_checkpoint(checkpoint_path(run_dir, "best"), self.model, self._state("best", None))
        last = self._state("last", partial)
        save_checkpoint(checkpoint_path(run_dir, "last"), self.model, last, self.optimizer)
        write_log(run_dir, self.history)

    # -- loop ----------------------------------------------------------------------------
    def run(self, progress: bool | None, on_step: Callable[[int], None] | None) -> TrainResult:
        cfg, ctx = self.cfg, self.ctx
        if ctx.is_main:
            write_run_record(self.plan, ctx.world_size)
        net = wrap_model(self.model, ctx)
        steps = len(self.train_stream)
        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(
            total=cfg.epochs * steps,
            initial=min(self.global_step, cfg.epochs * steps),
            disable=not (show and ctx.is_main),
            unit="step",
            file=sys.stderr,
            dynamic_ncols=True,
        )
        try:
            while self.epoch < cfg.epochs:
                self._run_epoch(net, bar, on_step)
        finally:
            bar.close()
        self.model.eval()
        best = self.best or {}
        return TrainResult(
            run_dir=self.plan.run_dir,
            kind=self.plan.kind,
            epochs_completed=self.epoch,
            global_step=self.global_step,
            best_epoch=best.get("epoch"),
            best_metric=self.best_metric,
            best_value=best.get("value"),
            history=tuple(self.history),
            model=self.model,
        )

    def _run_epoch(self, net: nn.Module, bar: tqdm, on_step: Callable[[int], None] | None) -> None:
        cfg, ctx = self.cfg, self.ctx
        batches = self.train_stream.local_batches(self.epoch)
        bar.set_description(f"epoch {self.epoch + 1}/{cfg.epochs}")
        t0, seen = time.perf_counter(), 0
        self.model.train()
        for s in range(self.step_in_epoch, len(batches)):
            x, age = self.train_stream.load(batches[s], ctx.device, cfg.channels_last)
            terms = self._train_step(net, x, age)
            n = x.shape[0]
            self.sums += torch.tensor([*terms, 1.0], dtype=torch.float64) * n
            self.global_step += 1
            self.step_in_epoch = s + 1
            seen += n * ctx.world_size
            rate = seen / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(_postfix(terms, rate), refresh=False)
            bar.update(1)
            if self.step_in_epoch == len(batches):
                self._end_epoch(time.perf_counter() - t0, rate, bar)
            elif cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                self._save(all_reduce_sum(self.sums, ctx), best=False)
            if on_step is not None:
                on_step(self.global_step)

    def _set_lr(self) -> None:
        """Learning rates of this step: a pure function of the global step (resume-safe)."""
        cfg = self.cfg
        factor = 1.0
        if cfg.lr_schedule == "cosine":
            total = max(cfg.epochs * len(self.train_stream), 1)
            factor = 0.5 * (1.0 + math.cos(math.pi * min(self.global_step / total, 1.0)))
        for group, base in zip(
            self.optimizer.param_groups, _base_lrs(cfg, self.model), strict=True
        ):
            group["lr"] = base * factor

    def _train_step(self, net: nn.Module, x: torch.Tensor, age: torch.Tensor) -> list[float]:
        cfg = self.cfg
        self.generator.manual_seed(noise_seed(cfg.seed, self.ctx.rank, self.global_step))
        self._set_lr()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.ctx.device.type, dtype=self.amp_dtype, enabled=self.amp):
            out = net(x, age, generator=self.generator)
        terms = vae_loss(out, x, age, beta=cfg.beta, gamma=cfg.gamma, reduction=cfg.reduction)
        self.scaler.scale(terms.total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        f = terms.as_floats()
        return [f["rec"], f["kl"], 0.0 if terms.age is None else f["age"], f["loss"]]

    @torch.no_grad()
    def _validate(self) -> torch.Tensor:
        cfg = self.cfg
        self.model.eval()
        sums = torch.zeros(_N_SUMS, dtype=torch.float64)
        for idx in self.val_stream.local_batches(0):
            x, age = self.val_stream.load(idx, self.ctx.device, cfg.channels_last)
            with torch.autocast(self.ctx.device.type, dtype=self.amp_dtype, enabled=self.amp):
                out = self.model(x, age)
            t = vae_loss(
                out, x, age, beta=cfg.beta, gamma=cfg.gamma, reduction=cfg.reduction
            ).as_floats()
            age_term = 0.0 if out.age_pred is None else t["age"]
            sums += torch.tensor([t["rec"], t["kl"], age_term, t["loss"], 1.0]) * x.shape[0]
        self.model.train()
        return all_reduce_sum(sums, self.ctx)

    @torch.no_grad()
    def _recalibrate_batchnorm(self) -> None:
        """Re-estimate BatchNorm running statistics on the first ``bn_recalibration`` volumes
        of this epoch's order, with the current weights and ``z = mu`` (as in evaluation)."""
        n = self.cfg.bn_recalibration
        if n <= 0:
            return
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the recalibration batches
        self.model.train()
        seen = 0
        for idx in self.train_stream.local_batches(self.epoch):
            if seen >= n:
                break
            x, age = self.train_stream.load(idx, self.ctx.device, self.cfg.channels_last)
            with torch.autocast(self.ctx.device.type, dtype=self.amp_dtype, enabled=self.amp):
                self.model(x, age, sample=False)
            seen += len(idx) * self.ctx.world_size
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

    def _end_epoch(self, seconds: float, rate: float, bar: tqdm) -> None:
        has_age = self.plan.model_config.has_age_head
        self._recalibrate_batchnorm()
        sync_buffers(self.model, self.ctx)
        train = _means(all_reduce_sum(self.sums, self.ctx), has_age)
        val = _means(self._validate(), has_age) if len(self.plan.val_idx) else {}
        if not all(math.isfinite(v) for v in (*train.values(), *val.values()) if v is not None):
            raise ConfigError(
                f"{self.plan.run_dir}: training diverged in epoch {self.epoch + 1} (a loss is "
                "not finite); the previous checkpoint is kept; try a lower learning rate"
            )
        self.epoch += 1
        self.step_in_epoch = 0
        self.sums.zero_()
        value = val["loss"] if val else train["loss"]
        improved = self.best is None or value < self.best["value"]
        if improved:
            self.best = {"epoch": self.epoch, "metric": self.best_metric, "value": value}
        row: dict[str, Any] = {"epoch": self.epoch, "step": self.global_step}
        for prefix, terms in (("train", train), ("val", val)):
            for key in ("loss", "rec", "kl", "age"):
                row[f"{prefix}_{key}"] = terms.get(key)
        if has_age and val:
            row["val_age_mean_pred"] = self.val_age_mean_pred
        row.update(
            lr=self.optimizer.param_groups[0]["lr"],
            seconds=round(seconds, 3),
            volumes_per_s=round(rate, 3),
            best=int(improved),
        )
        self.history.append(row)
        self._save(None, best=improved)
        if bar.disable is False:
            shown = f"val loss {value:.4g}" if val else f"train loss {value:.4g}"
            if has_age:
                where = val if val else train
                shown += f", {'val' if val else 'train'} age MAE {where['age']:.2f} y"
            bar.write(
                f"epoch {self.epoch}: {shown}{' (best)' if improved else ''}", file=sys.stderr
            )


def _mean_predictor_mae(plan: RunPlan) -> float | None:
    """Validation age MAE (years) of predicting the training mean age for everyone: the
    reference an age head must beat (logged as ``val_age_mean_pred``)."""
    if not plan.model_config.has_age_head or not len(plan.val_idx):
        return None
    ages = cache_ages(plan.cache)[plan.val_idx]
    ages = ages[np.isfinite(ages)]
    if not len(ages):
        return None
    return round(float(np.abs(ages - plan.model_config.age_mean).mean()), 4)


def _base_lrs(cfg: TrainConfig, model: VAE) -> list[float]:
    """Base learning rate of each parameter group of :func:`_param_groups`."""
    return [cfg.lr] + ([] if model.age_head is None else [cfg.lr * cfg.age_lr_scale])


def _param_groups(model: VAE, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Adam parameter groups: the age head gets ``age_weight_decay`` and ``lr * age_lr_scale``,
    the rest no weight decay and ``lr``."""
    head = [] if model.age_head is None else list(model.age_head.parameters())
    head_ids = {id(p) for p in head}
    rest = [p for p in model.parameters() if id(p) not in head_ids]
    groups: list[dict[str, Any]] = [{"params": rest}]
    if head:
        groups.append(
            {
                "params": head,
                "weight_decay": cfg.age_weight_decay,
                "lr": cfg.lr * cfg.age_lr_scale,
            }
        )
    return groups


def _means(sums: torch.Tensor, has_age: bool) -> dict[str, float | None]:
    n = max(float(sums[4]), 1.0)
    return {
        "rec": float(sums[0]) / n,
        "kl": float(sums[1]) / n,
        "age": float(sums[2]) / n if has_age else None,
        "loss": float(sums[3]) / n,
    }


def _postfix(terms: list[float], rate: float) -> str:
    rec, kl, age, total = terms
    return f"loss={total:.4g} rec={rec:.4g} kl={kl:.4g} age={age:.3g} vol/s={rate:.2f}"
