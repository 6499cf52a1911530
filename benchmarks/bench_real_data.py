"""IXI + BraTS from the downloads to the report: time per stage, on stand-ins of the same size.

No real scan can be had here, so each stage runs on synthetic stand-ins with the real data's
grids (``brainuad.synth`` subjects at 1 mm, resampled once):

* **IXI-like**: a raw head with skull, scalp and noisy air on a 256x256x150 grid of
  0.9375x0.9375x1.2 mm (the IXI T1 grid), int16;
* **BraTS-like**: a skull-stripped brain with a glioma (background exactly 0) on the BraTS
  240x240x155 grid of 1 mm (LPS-stored, as BraTS ships), int16, with its segmentation.

Stages and references timed in the same run:

1. ``brainuad cohort ixi|brats`` on download trees of the requested size (placeholder image
   files: the recipes list files and read the spreadsheet, they never open an image);
2. the "already skull-stripped?" check per scan, next to deepbet on the same IXI-like head;
3. ``preprocess_subject`` with the default settings (``skull_strip: auto``): IXI-like heads go
   through deepbet, BraTS-like scans take the mask-from-image path; reference: the same
   BraTS-like scan forced through deepbet;
4. training steps of VAE-a_p (``cpu`` and ``paper`` presets) and inference on 64x77x66 volumes,
   with the FLOPs of one training volume (``torch.utils.flop_counter``).

It then prints the estimated time of each stage for the cohort sizes given (``--n-ixi``,
``--n-brats``) on this machine, and a GPU estimate from the counted FLOPs at the sustained rates
given with ``--gpu-tflops`` (an assumption, not a measurement: no GPU here). Preprocessing is
CPU-bound everywhere (deepbet runs on the CPU in the pipeline), so on a GPU machine it scales with
its cores (``--gpu-jobs``).

    python benchmarks/bench_real_data.py --subjects 1 --repeats 3 --n-ixi 560 --n-brats 236
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

IXI_SHAPE, IXI_SPACING = (256, 256, 150), (0.9375, 0.9375, 1.2)
BRATS_SHAPE = (240, 240, 155)
MODEL_SHAPE = (64, 77, 66)
HEALTHY_TRAIN = 1255 / 1735  # the paper's share of healthy scans used for training


def _grid(shape: tuple[int, int, int], spacing: tuple[float, ...], centre: np.ndarray, flip: bool):
    from brainuad.preprocessing.geometry import Grid

    signs = np.array([-1.0, -1.0, 1.0]) if flip else np.ones(3)
    affine = np.eye(4)
    affine[:3, :3] = np.diag(signs * np.asarray(spacing))
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return Grid(shape, affine)


def stand_ins(n: int, folder: Path) -> list[tuple[str, Path, Path | None]]:
    """(kind, image, lesion) for ``n`` IXI-like heads and ``n`` BraTS-like scans."""
    from brainuad.io.nifti import save_volume
    from brainuad.preprocessing.geometry import resample
    from brainuad.synth import SynthConfig
    from brainuad.synth.subject import generate_subject

    out = []
    for seed in range(n):
        head = generate_subject(45.0, 0, seed=100 + seed, config=SynthConfig())
        brain_centre = head.affine @ np.r_[np.argwhere(head.brain_mask).mean(0), 1.0]
        grid = _grid(IXI_SHAPE, IXI_SPACING, brain_centre[:3] + [0, 0, -20], flip=False)
        data = resample(head.image.astype(np.float32), head.affine, grid, order=1)
        # outside the synthetic field of view: air noise like the rest of the background
        rng = np.random.default_rng(seed)
        corner = head.image[:8, :8, :8].astype(np.float32)
        outside = data == 0
        data[outside] = np.abs(rng.normal(0, max(corner.std(), 1.0), int(outside.sum())))
        path = save_volume(
            folder / f"IXI{seed:03d}-Guys-0000-T1.nii.gz",
            np.rint(data).astype(np.int16),
            grid.affine,
        )
        out.append(("ixi", path, None))

        tumour = generate_subject(60.0, 1, seed=200 + seed, config=SynthConfig(skull=False))
        centre = tumour.affine @ np.r_[np.argwhere(tumour.brain_mask).mean(0), 1.0]
        grid = _grid(BRATS_SHAPE, (1.0, 1.0, 1.0), centre[:3], flip=True)
        data = resample(tumour.image.astype(np.float32), tumour.affine, grid, order=1)
        seg = resample(tumour.lesion_mask.astype(np.float32), tumour.affine, grid, order=0)
        sid = f"BraTS20_Training_{seed + 1:03d}"
        image = save_volume(
            folder / f"{sid}_t1.nii.gz", np.rint(data).astype(np.int16), grid.affine
        )
        lesion = save_volume(
            folder / f"{sid}_seg.nii.gz", (seg > 0.5).astype(np.uint8), grid.affine
        )
        out.append(("brats", image, lesion))
    return out


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``repeats`` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), result


def recipes(n_ixi: int, n_brats: int, folder: Path, repeats: int) -> dict[str, float]:
    """Seconds of ``build + write`` for download trees of the given sizes."""
    from brainuad.cohorts import build_brats, build_ixi, write_build

    t1 = folder / "IXI-T1"
    t1.mkdir(parents=True)
    lines = ["IXI_ID,SEX_ID,AGE"]
    for i in range(n_ixi):
        for kind in ("T1", "T2", "PD"):
            (t1 / f"IXI{i:03d}-HH-{i:04d}-{kind}.nii.gz").touch()
        lines.append(f"{i},1,{20 + i % 66}.5")
    (folder / "IXI.csv").write_text("\n".join(lines) + "\n")
    data = folder / "MICCAI_BraTS2020_TrainingData"
    rows = ["Brats20ID,Age"]
    for i in range(1, n_brats + 1):
        sid = f"BraTS20_Training_{i:03d}"
        (data / sid).mkdir(parents=True)
        for kind in ("t1", "t1ce", "t2", "flair", "seg"):
            (data / sid / f"{sid}_{kind}.nii.gz").touch()
        rows.append(f"{sid},{40 + i % 40}.25")
    (data / "survival_info.csv").write_text("\n".join(rows) + "\n")
    ixi_s, _, _ = median_time(
        lambda: write_build(build_ixi(t1, folder / "IXI.csv"), folder / "ixi.csv"), repeats
    )
    brats_s, _, _ = median_time(
        lambda: write_build(build_brats(data), folder / "brats.csv"), repeats
    )
    return {"ixi": ixi_s, "brats": brats_s}


def training(repeats: int) -> dict[str, dict[str, float]]:
    """Training-step and inference throughput (volumes/s) and FLOPs per training volume."""
    from torch.utils.flop_counter import FlopCounterMode

    from brainuad.training import preset

    out = {}
    for name, batch in (("cpu", 4), ("paper", 8)):
        cfg = preset(name).model_config("vae-ap", MODEL_SHAPE)
        step, infer = _train_cases(cfg, batch)
        step()  # warm-up
        with FlopCounterMode(display=False) as counter:
            step()
        flops = counter.get_total_flops() / batch
        train_s, _, _ = median_time(step, repeats)
        infer_s, _, _ = median_time(infer, repeats)
        out[name] = {
            "train_vol_s": batch / train_s,
            "infer_vol_s": batch / infer_s,
            "gflop_train": flops / 1e9,
            "epochs": preset(name).epochs,
        }
    return out


def _train_cases(cfg: Any, batch: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """A training step (forward, loss, backward, Adam) and an inference pass of one batch."""
    import torch

    from brainuad.models import build_model, vae_loss

    model = build_model(cfg, seed=0).to(memory_format=torch.channels_last_3d)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, *MODEL_SHAPE, generator=g).contiguous(
        memory_format=torch.channels_last_3d
    )
    age = torch.full((batch,), 50.0)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        vae_loss(model(x, age, generator=g), x, age).total.backward()
        opt.step()

    def infer() -> None:
        model.eval()
        with torch.inference_mode():
            model(x, age)
        model.train()

    return step, infer


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2, help="stand-ins of each kind")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-ixi", type=int, default=560, help="IXI T1 heads with an age")
    parser.add_argument("--n-brats", type=int, default=236, help="BraTS scans with an age")
    parser.add_argument("--jobs", type=int, default=2, help="preprocessing workers here")
    parser.add_argument("--gpu-jobs", type=int, default=16, help="CPU workers of a GPU machine")
    parser.add_argument("--gpu-tflops", default="20,60", help="assumed sustained TFLOP/s")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    args = parser.parse_args()

    import torch

    from brainuad.io.nifti import load_volume
    from brainuad.preprocessing import PreprocessConfig, preprocess_subject
    from brainuad.preprocessing.skullstrip import deepbet_mask
    from brainuad.preprocessing.stripcheck import check_skull_stripped

    torch.set_num_threads(1)  # preprocessing runs one thread per worker, as the pipeline does
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rec = recipes(args.n_ixi, args.n_brats, folder / "trees", args.repeats)
        print(f"cohort ixi   ({args.n_ixi} heads): {rec['ixi']:.2f} s")
        print(f"cohort brats ({args.n_brats} scans): {rec['brats']:.2f} s")
        (folder / "scans").mkdir()
        scans = stand_ins(args.subjects, folder / "scans")
        auto = PreprocessConfig()
        forced = PreprocessConfig(skull_strip="deepbet")
        for kind, image, lesion in scans:
            vol = load_volume(image)
            _, check_c, found = median_time(
                lambda v=vol: check_skull_stripped(v.data, v.spacing), args.repeats
            )
            rows.setdefault(f"{kind} check cpu s", []).append(check_c)
            assert found.stripped == (kind == "brats"), found.reason
            if kind == "ixi":
                _, bet_c, _ = median_time(lambda v=vol: deepbet_mask(v.data), 1)
                rows.setdefault("deepbet on the head (cpu s)", []).append(bet_c)
            w, c, res = median_time(
                lambda i=image, le=lesion: preprocess_subject(i, lesion_path=le, config=auto),
                args.repeats,
            )
            rows.setdefault(f"{kind} auto wall s", []).append(w)
            rows.setdefault(f"{kind} auto cpu s", []).append(c)
            rows.setdefault(f"{kind} path", []).append(float(res.qc["skull_strip_path"] == "none"))
            if kind == "brats":
                w, c, _ = median_time(
                    lambda i=image, le=lesion: preprocess_subject(i, lesion_path=le, config=forced),
                    args.repeats,
                )
                rows.setdefault("brats forced-deepbet cpu s", []).append(c)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print("\nper scan (median over stand-ins of the medians of repeats):")
    for key, value in med.items():
        print(f"  {key:32s} {value:7.3f}")
    ratio = med["brats forced-deepbet cpu s"] / med["brats auto cpu s"]
    print(f"  BraTS-like: forced deepbet / auto (mask from image), CPU: {ratio:.2f}x")
    share = med["ixi check cpu s"] / med["deepbet on the head (cpu s)"]
    print(f"  strip check / deepbet on the IXI-like head: {share:.3f}")

    torch.set_num_threads(args.threads)
    train = training(args.repeats)
    print(f"\ntraining ({args.threads} threads), 64x77x66 volumes:")
    for name, t in train.items():
        print(
            f"  {name:6s} train {t['train_vol_s']:.2f} vol/s, infer {t['infer_vol_s']:.2f} vol/s, "
            f"{t['gflop_train']:.2f} GFLOP per training volume, {t['epochs']} epochs"
        )

    prep_cpu = args.n_ixi * med["ixi auto cpu s"] + args.n_brats * med["brats auto cpu s"]
    n_train = round(HEALTHY_TRAIN * args.n_ixi)
    n_eval = args.n_ixi - n_train + args.n_brats
    print(f"\nestimates for {args.n_ixi} IXI + {args.n_brats} BraTS scans ({n_train} training):")
    print(f"  preprocess here ({args.jobs} workers): {_hours(prep_cpu / args.jobs)}")
    gpu_prep = _hours(prep_cpu / args.gpu_jobs)
    print(f"  preprocess on a {args.gpu_jobs}-core GPU machine (CPU-bound): {gpu_prep}")
    for name, t in train.items():
        per_method = n_train * t["epochs"] / t["train_vol_s"] + n_eval / t["infer_vol_s"]
        print(f"  {name} preset, 3 methods, here: {_hours(3 * per_method)}")
        if name != "paper":
            continue  # the small network is bound by data loading on a GPU, not by FLOPs
        for tflops in (float(v) for v in args.gpu_tflops.split(",")):
            vol_s = tflops * 1e12 / (t["gflop_train"] * 1e9)
            gpu = 3 * n_train * t["epochs"] / vol_s
            print(
                f"    GPU estimate, {tflops:g} TFLOP/s sustained: {_hours(gpu)} ({vol_s:.0f} vol/s)"
            )


if __name__ == "__main__":
    main()
