"""Throughput of the paper-shape VAE-a_p next to MONAI's VarAutoEncoder and a float32 matmul.

Measures, in one process and interleaved round by round (so that load from other processes hits
every contender alike), the median time of

* a training step (forward, eq. (2) loss, backward, Adam) and an inference pass (eval mode, no
  gradients) of brainuad's VAE-a_p on 64x77x66 volumes (channels 32-64-128-256, kernel 5,
  BatchNorm, LeakyReLU 0.2, n_z 2048), in ``channels_last_3d`` format;
* the same for ``monai.networks.nets.VarAutoEncoder`` configured alike (same channels, strides
  2, kernel 5, up-kernel 5, no residual units, BatchNorm, LeakyReLU 0.2, latent 2048) on the
  input padded to 64x80x80 (MONAI needs sizes divisible by 16), in its default memory format
  (its ``x.view(...)`` flattening rejects ``channels_last_3d`` tensors);
* a 4096x4096 float32 matmul, the reference for achievable GFLOP/s on this CPU.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode``; for brainuad they are the
FLOPs of the plain convolutions (``impl="native"``), i.e. useful work, not the extra zero taps of
the phase implementation. Prints volumes/s, GFLOP/s and ratios, and optionally (``--profile``)
where brainuad's training step spends its time. Requires ``pip install --no-deps monai``.

    python benchmarks/bench_models.py --batch 8 --rounds 5 --threads 2 --profile
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from brainuad.models import ModelConfig, build_model, kl_divergence, reconstruction_l1, vae_loss
from brainuad.training import preset

CL = torch.channels_last_3d
SHAPE = (64, 77, 66)
MONAI_SHAPE = (64, 80, 80)


def matmul_case(n: int = 4096) -> tuple[Callable[[], None], float]:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return (lambda: torch.mm(a, b)), 2.0 * n**3


def brainuad_cases(cfg: ModelConfig, batch: int, channels_last: bool = True):
    """(train_step, infer, train_flops_per_volume, infer_flops_per_volume) for brainuad."""
    model = build_model(cfg, seed=0)
    fmt = CL if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, *cfg.input_shape, generator=g).contiguous(memory_format=fmt)
    age = torch.full((batch,), 50.0)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        vae_loss(model(x, age, generator=g), x, age).total.backward()
        opt.step()

    @torch.no_grad()
    def infer() -> None:
        model.eval()
        model(x, age)
        model.train()

    ref = build_model(cfg, seed=0, impl="native")  # count the FLOPs of the plain layers
    xs, ages = x[:1].contiguous(), age[:1]
    with FlopCounterMode(display=False) as fc:
        vae_loss(ref(xs, ages, generator=g), xs, ages).total.backward()
    train_flops = fc.get_total_flops()
    ref.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        ref(xs, ages)
    return train_step, infer, train_flops, fc.get_total_flops()


def monai_cases(channels, n_z: int, batch: int):
    from monai.networks.nets import VarAutoEncoder

    torch.manual_seed(0)  # benchmark only: MONAI draws its initialisation and noise globally
    model = VarAutoEncoder(
        spatial_dims=3,
        in_shape=(1, *MONAI_SHAPE),
        out_channels=1,
        latent_size=n_z,
        channels=channels,
        strides=(2,) * len(channels),
        kernel_size=5,
        up_kernel_size=5,
        num_res_units=0,
        norm="BATCH",
        act=("LEAKYRELU", {"negative_slope": 0.2}),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    vol = torch.rand(batch, 1, *SHAPE)
    x = F.pad(vol, [0, MONAI_SHAPE[2] - SHAPE[2], 0, MONAI_SHAPE[1] - SHAPE[1], 0, 0])

    def loss(xx: torch.Tensor) -> torch.Tensor:
        recon, mu, logvar, _ = model(xx)
        return (reconstruction_l1(recon, xx) + kl_divergence(mu, logvar)).mean()

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss(x).backward()
        opt.step()

    @torch.no_grad()
    def infer() -> None:
        model.eval()
        model(x)
        model.train()

    with FlopCounterMode(display=False) as fc:
        loss(x[:1]).backward()
    train_flops = fc.get_total_flops()
    model.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x[:1])
    model.train()
    return train_step, infer, train_flops, fc.get_total_flops()


def timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def profile_training(step: Callable[[], None], steps: int = 2) -> None:
    """Print where a training step spends its time, grouped by operator family."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    groups: dict[str, float] = {}
    for ev in prof.key_averages():
        name = ev.key
        if "convolution_backward" in name:
            key = "convolution backward"
        elif name in ("aten::mkldnn_convolution", "aten::_convolution"):
            key = "convolution forward"
        elif "batch_norm" in name:
            key = "batch norm (fwd+bwd)"
        elif "leaky_relu" in name:
            key = "LeakyReLU (fwd+bwd)"
        elif name in ("aten::mm", "aten::addmm"):
            key = "dense layers (matmul)"
        elif any(s in name for s in ("lerp", "addcdiv", "addcmul", "sqrt", "Adam")):
            key = "Adam update"
        elif name in ("aten::copy_", "aten::constant_pad_nd", "aten::clone", "aten::fill_"):
            key = "copies, padding, layout"
        else:
            key = "other"
        groups[key] = groups.get(key, 0.0) + ev.self_cpu_time_total
    total = sum(groups.values())
    print("\nwhere brainuad's training step spends its time (self CPU time):")
    for key, us in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {key:28s} {100 * us / total:5.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8, help="volumes per step (paper: 32)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (medians reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--no-monai", action="store_true", help="skip the MONAI reference")
    ap.add_argument("--profile", action="store_true", help="break down brainuad's step")
    ap.add_argument("--cpu-preset", action="store_true", help="also time the cpu preset")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    paper = preset("paper")
    cfg = paper.model_config("vae-ap", SHAPE)
    cases: dict[str, tuple[Callable[[], None], float, float]] = {}
    mm, mm_flops = matmul_case()
    tr, inf, ftr, finf = brainuad_cases(cfg, args.batch)
    cases["brainuad train"] = (tr, ftr, args.batch)
    cases["brainuad infer"] = (inf, finf, args.batch)
    if not args.no_monai:
        tr, inf, ftr, finf = monai_cases(paper.channels, paper.n_z, args.batch)
        cases["monai train"] = (tr, ftr, args.batch)
        cases["monai infer"] = (inf, finf, args.batch)
    if args.cpu_preset:
        cpu = preset("cpu")
        tr, inf, ftr, finf = brainuad_cases(cpu.model_config("vae-ap", SHAPE), cpu.batch_size)
        cases["cpu-preset train"] = (tr, ftr, cpu.batch_size)
        cases["cpu-preset infer"] = (inf, finf, cpu.batch_size)
    for fn, _, _ in cases.values():  # warm-up
        fn()
    # Each case is timed between two matmul timings; its GFLOP/s is divided by the matmul's
    # GFLOP/s measured around it, so slow changes in the load from other processes cancel.
    times: dict[str, list[float]] = {k: [] for k in cases}
    ratios: dict[str, list[float]] = {k: [] for k in cases}
    mm_rates: list[float] = []
    for _ in range(args.rounds):
        before = mm_flops / timed(mm)
        for key, (fn, flops, n) in cases.items():
            t = timed(fn)
            after = mm_flops / timed(mm)
            times[key].append(t)
            ratios[key].append(flops * n / t / (0.5 * (before + after)))
            mm_rates.append(after)
            before = after
    peak = statistics.median(mm_rates) / 1e9
    print(f"threads {torch.get_num_threads()}, batch {args.batch}, {args.rounds} rounds (medians)")
    print(f"float32 matmul 4096^3: {peak:.1f} GFLOP/s")
    head = f"{'case':18s} {'vol/s':>7s} {'GFLOP/vol':>9s} {'GFLOP/s':>8s} {'of matmul':>9s}"
    print(head)
    for key, (_, flops, n) in cases.items():
        rate = n / statistics.median(times[key])
        share = 100 * statistics.median(ratios[key])
        print(f"{key:18s} {rate:7.2f} {flops / 1e9:9.2f} {rate * flops / 1e9:8.1f} {share:8.1f}%")
    if not args.no_monai:
        for mode in ("train", "infer"):
            ours, theirs = times[f"brainuad {mode}"], times[f"monai {mode}"]
            per_round = [m / b for b, m in zip(ours, theirs, strict=True)]
            ratio = statistics.median(per_round)
            print(f"brainuad / MONAI volumes/s ({mode}): {ratio:.2f}x (median of per-round ratios)")
    if args.profile:
        profile_training(cases["brainuad train"][0])


if __name__ == "__main__":
    main()
