"""Cases of the bad-input corpus (train, score, evaluate, report, export, predict,
run, cohort, synth); the checks are in test_bad_inputs.py.

A case builds its bad input under the case's own folder and returns ``(argv, path that the
error must name, regex of the message)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from bad_input_cases import CASES, MANIFESTS, case, manifest_in
from bad_input_helpers import (
    copy,
    edit_json,
    flip_byte,
    head,
    header_only_nifti,
    write_tiny_cache,
)

# --- train ------------------------------------------------------------------------------------


def _train(ws: dict[str, Path], tmp: Path, cache: Path, *extra: str) -> list[str]:
    out = str(tmp / "out")
    return ["train", str(cache), "-m", "vae", "-o", out, "--preset", "tiny", *extra]


@case("train: cache missing")
def _(ws, tmp):
    return _train(ws, tmp, tmp / "nocache"), tmp / "nocache", "cache"


@case("train: cache.json corrupt")
def _(ws, tmp):
    cache = copy(ws["cache"], tmp / "cache")
    (cache / "cache.json").write_text("{not json")
    return _train(ws, tmp, cache), cache, "cache"


@case("train: splits row with extra fields")
def _(ws, tmp):
    splits = tmp / "s.csv"
    splits.write_text("subject_id,split\nsub-00,train\nsub-01,train,x\n")
    return _train(ws, tmp, ws["cache"], "--splits", str(splits)), splits, "row 3: expected 2"


@case("train: splits latin-1")
def _(ws, tmp):
    splits = tmp / "s.csv"
    splits.write_bytes("subject_id,split\nJosé,train\n".encode("latin-1"))
    return _train(ws, tmp, ws["cache"], "--splits", str(splits)), splits, "not UTF-8"


@case("train: --device cuda without a GPU", needs_no_gpu=True)
def _(ws, tmp):
    return _train(ws, tmp, ws["cache"], "--device", "cuda"), Path("cuda"), "no CUDA GPU"


# --- score ------------------------------------------------------------------------------------


def _score(ws: dict[str, Path], tmp: Path, run: Path, cache: Path, *extra: str) -> list[str]:
    return ["score", str(run), str(cache), "-o", str(tmp / "out" / "scores.csv"), *extra]


@case("score: cache of other preprocessing")
def _(ws, tmp):
    other = write_tiny_cache(tmp / "other", none_threshold=0.05)
    return _score(ws, tmp, ws["run"], other), other, "preprocessing fingerprint"


@case("score: flipped byte in the checkpoint")
def _(ws, tmp):
    run = copy(ws["run"], tmp / "run")
    flip_byte(run / "checkpoints" / "last.safetensors")
    return _score(ws, tmp, run, ws["cache"]), run / "checkpoints", "content SHA-256"


@case("score: NaN weights")
def _(ws, tmp):
    from brainuad.training import load_checkpoint, save_checkpoint

    run = copy(ws["run"], tmp / "run")
    path = run / "checkpoints" / "last.safetensors"
    model, state = load_checkpoint(path)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    keep = {k: v for k, v in state.items() if k not in ("format", "format_version", "optimizer")}
    save_checkpoint(path, model, keep)
    return _score(ws, tmp, run, ws["cache"]), ws["cache"], "scores of subject sub-\\d+ are not"


@case("score: --device cuda without a GPU", needs_no_gpu=True)
def _(ws, tmp):
    return _score(ws, tmp, ws["run"], ws["cache"], "--device", "cuda"), Path("cuda"), "no CUDA"


@case("score: run folder missing")
def _(ws, tmp):
    return _score(ws, tmp, tmp / "norun", ws["cache"]), tmp / "norun", "checkpoint"


@case("score: splits with a duplicate subject")
def _(ws, tmp):
    splits = tmp / "s.csv"
    splits.write_text("subject_id,split\nsub-00,val\nsub-00,test\n")
    argv = _score(ws, tmp, ws["run"], ws["cache"], "--splits", str(splits))
    return argv, splits, "listed twice"


# --- evaluate / report ------------------------------------------------------------------------


def _evaluate(tmp: Path, scores: Path) -> list[str]:
    return [
        "evaluate",
        str(scores),
        "-o",
        str(tmp / "out" / "metrics.json"),
        "--n-resamples",
        "100",
    ]


@case("evaluate: scores without rows")
def _(ws, tmp):
    scores = tmp / "vae.csv"
    scores.write_text(ws["scores"].read_text().splitlines()[0] + "\n")
    return _evaluate(tmp, scores), scores, "found only a header"


@case("evaluate: scores file missing")
def _(ws, tmp):
    return _evaluate(tmp, tmp / "none.csv"), tmp / "none.csv", "no such file"


@case("evaluate: scores row with extra fields")
def _(ws, tmp):
    scores = tmp / "vae.csv"
    lines = ws["scores"].read_text().splitlines()
    scores.write_text("\n".join([*lines[:3], lines[3] + ",1,2,3", *lines[4:]]) + "\n")
    return _evaluate(tmp, scores), scores, "could not parse"


@case("evaluate: scores of one class only")
def _(ws, tmp):
    scores = tmp / "vae.csv"
    lines = ws["scores"].read_text().splitlines()
    header = lines[0].split(",")
    i = header.index("label")
    rows = [ln for ln in lines[1:] if ln.split(",")[i] == "0"]
    scores.write_text("\n".join([lines[0], *rows]) + "\n")
    return _evaluate(tmp, scores), scores, "normal and anomalous"


@case("report: results folder missing")
def _(ws, tmp):
    return ["report", str(tmp / "none"), "-o", str(tmp / "out")], tmp / "none", "."


@case("report: folder without metrics.json")
def _(ws, tmp):
    (tmp / "res").mkdir()
    return ["report", str(tmp / "res"), "-o", str(tmp / "out")], tmp / "res", "metrics"


# --- export / predict: bundle and checkpoint trust -----------------------------------------


@case("export: flipped byte in the checkpoint")
def _(ws, tmp):
    run = copy(ws["run"], tmp / "run")
    flip_byte(run / "checkpoints" / "last.safetensors", 200)
    argv = ["export", str(run), "-o", str(tmp / "out"), "--device", "cpu"]
    return argv, run / "checkpoints", "content SHA-256"


@case("export: source missing")
def _(ws, tmp):
    return ["export", str(tmp / "none"), "-o", str(tmp / "out")], tmp / "none", "."


@case("export: --out is a foreign folder")
def _(ws, tmp):
    out = tmp / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    return ["export", str(ws["run"]), "-o", str(out), "--device", "cpu"], out, "not a model bundle"


def _predict(ws: dict[str, Path], tmp: Path, bundle: Path, scan: Path, *extra: str) -> list[str]:
    return ["predict", str(bundle), str(scan), "-o", str(tmp / "out"), *extra]


def _threshold_edit(bundle: Path) -> None:
    record = json.loads((bundle / "bundle.json").read_text())
    for point in record["operating_points"].values():
        point["threshold"] = 1e9
    (bundle / "bundle.json").write_text(json.dumps(record, indent=2))


@case("predict: hand-edited threshold in bundle.json")
def _(ws, tmp):
    bundle = copy(ws["bundle"], tmp / "bundle")
    _threshold_edit(bundle)
    argv = _predict(ws, tmp, bundle, ws["scan"], "--age", "50")
    return argv, bundle / "bundle.json", "content SHA-256 .* edited"


@case("predict: bundle.json without its content hash")
def _(ws, tmp):
    bundle = copy(ws["bundle"], tmp / "bundle")
    record = json.loads((bundle / "bundle.json").read_text())
    record.pop("record_sha256")
    (bundle / "bundle.json").write_text(json.dumps(record))
    return _predict(ws, tmp, bundle, ws["scan"]), bundle / "bundle.json", "no record_sha256"


@case("predict: flipped byte in the weights")
def _(ws, tmp):
    bundle = copy(ws["bundle"], tmp / "bundle")
    flip_byte(bundle / "weights.safetensors")
    return _predict(ws, tmp, bundle, ws["scan"]), bundle / "weights.safetensors", "SHA-256"


@case("predict: edited reference table")
def _(ws, tmp):
    bundle = copy(ws["bundle"], tmp / "bundle")
    ref = bundle / "reference.csv"
    ref.write_text(ref.read_text() + "\n")
    return _predict(ws, tmp, bundle, ws["scan"]), ref, "SHA-256"


@case("predict: format version edited")
def _(ws, tmp):
    bundle = copy(ws["bundle"], tmp / "bundle")
    edit_json(bundle / "bundle.json", format_version=99)
    return _predict(ws, tmp, bundle, ws["scan"]), bundle / "bundle.json", "format version 99"


for _name, (_shape, _zooms, _msg) in {
    "30000^3 voxels": ((30000, 30000, 30000), (1.0, 1.0, 1.0), "implausible image size"),
    "1000 mm voxels": ((20, 20, 20), (1000.0, 1000.0, 1000.0), "implausible voxel size"),
    "0.001 mm voxels": ((20, 20, 20), (0.001, 0.001, 0.001), "implausible voxel size"),
}.items():

    def _absurd(ws, tmp, shape=_shape, zooms=_zooms, msg=_msg):  # type: ignore[no-untyped-def]
        scan = header_only_nifti(tmp / "scan.nii", shape, zooms)
        return _predict(ws, tmp, ws["bundle"], scan, "--age", "50"), scan, msg

    CASES[f"predict: header with {_name}"] = _absurd


@case("predict: age -3")
def _(ws, tmp):
    return _predict(ws, tmp, ws["bundle"], ws["scan"], "--age", "-3"), Path("--age"), "between"


@case("predict: age nan")
def _(ws, tmp):
    return _predict(ws, tmp, ws["bundle"], ws["scan"], "--age", "nan"), Path("--age"), "."


@case("predict: --device cuda without a GPU", needs_no_gpu=True)
def _(ws, tmp):
    argv = _predict(ws, tmp, ws["bundle"], ws["scan"], "--device", "cuda")
    return argv, Path("cuda"), "no CUDA GPU"


@case("predict: scan is a 4D series")
def _(ws, tmp):
    data, affine = head(0)
    scan = tmp / "fmri.nii.gz"
    nib.save(nib.Nifti1Image(np.stack([data, data], -1), affine), str(scan))
    return _predict(ws, tmp, ws["bundle"], scan, "--age", "50"), scan, "4D series"


# --- run: everything checked before the output folder is written ---------------------------


def _study(tmp: Path, ws: dict[str, Path], extra: str, cohort: Path | None = None) -> Path:
    cfg = tmp / "study.yaml"
    cohort = cohort or ws["manifest"]
    cfg.write_text(f"cohort: {cohort}\noutput: {tmp / 'out'}\npreset: tiny\n{extra}")
    return cfg


for _name, (_extra, _msg) in {
    "unknown train key": ("train: {learning_rate: 0.1}\n", "unknown field"),
    "lr is text": ("train: {lr: fast}\n", "lr must be a number"),
    "epochs -5 under train": ("train: {epochs: -5}\n", "epochs and batch_size must be >= 1"),
    "channels not numbers": ("train: {channels: [a, b]}\n", "channels must be a list"),
    "unknown top-level key": ("colour: blue\n", "unknown key"),
    "unknown preprocess key": ("preprocess: {bogus: 1}\n", "unknown preprocessing setting"),
    "epochs -5": ("epochs: -5\n", "epochs must be >= 1"),
    "split sizes": ("split: {healthy: [1, 2]}\n", "split.healthy"),
}.items():

    def _run_cfg(ws, tmp, extra=_extra, msg=_msg):  # type: ignore[no-untyped-def]
        cfg = _study(tmp, ws, extra)
        return ["run", str(cfg), "-q"], cfg, msg

    CASES[f"run: {_name}"] = _run_cfg


@case("run: YAML that does not parse")
def _(ws, tmp):
    cfg = tmp / "study.yaml"
    cfg.write_text("cohort: [unclosed\n")
    return ["run", str(cfg)], cfg, "not valid YAML"


@case("run: cohort row with extra fields")
def _(ws, tmp):
    manifest = manifest_in(tmp, ws, MANIFESTS["extra fields"][0])  # type: ignore[arg-type]
    cfg = _study(tmp, ws, "", cohort=manifest)
    return ["run", str(cfg), "-q"], manifest, "row 3: 5 fields"


@case("run: skull_strip mask without a mask column")
def _(ws, tmp):
    cfg = _study(tmp, ws, "preprocess: {skull_strip: mask}\n")
    return ["run", str(cfg), "-q"], ws["manifest"], "skull_strip 'mask' needs a brain mask"


# --- cohort recipes and synth -----------------------------------------------------------------


@case("cohort ixi: T1 folder missing")
def _(ws, tmp):
    xls = tmp / "IXI.csv"
    xls.write_text("IXI_ID,AGE\n1,30\n")
    argv = ["cohort", "ixi", str(tmp / "none"), "-d", str(xls), "-o", str(tmp / "out" / "i.csv")]
    return argv, tmp / "none", "."


@case("cohort brats: folder missing")
def _(ws, tmp):
    argv = ["cohort", "brats", str(tmp / "none"), "-o", str(tmp / "out" / "b.csv")]
    return argv, tmp / "none", "."


@case("synth: ages not numbers")
def _(ws, tmp):
    argv = ["synth", str(tmp / "out"), "--n-normal", "2", "--normal-age", "old,young"]
    return argv, Path("age"), "."
