"""The bad-input corpus: every command refuses hostile input the same way.

Each case builds its bad input from tiny synthetic data, runs the CLI in-process and checks
the promise of the README: exit status 2, exactly one ``error:`` line on stderr that names the
offending path, no traceback, and nothing created, changed or removed anywhere in the
workspace (a snapshot of every file's bytes before and after).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from bad_input_helpers import (
    build_artefacts,
    copy,
    edit_json,
    flip_byte,
    head,
    header_only_nifti,
    snapshot,
    write_tiny_cache,
)

from brainuad.cli.main import main

Case = Callable[[dict[str, Path], Path], tuple[list[str], Path, str]]
CASES: dict[str, Case] = {}
NO_GPU = not torch.cuda.is_available()


def case(name: str, *, needs_no_gpu: bool = False):  # type: ignore[no-untyped-def]
    def register(fn: Case) -> Case:
        if not (needs_no_gpu and not NO_GPU):
            CASES[name] = fn
        return fn

    return register


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return build_artefacts(tmp_path_factory.mktemp("corpus"))
    finally:
        torch.set_num_threads(threads)


def _manifest(tmp: Path, ws: dict[str, Path], text: str, name: str = "m.csv") -> Path:
    """A manifest in ``tmp`` whose image paths point at the shared cohort."""
    path = tmp / name
    path.write_text(text.replace("IMG", str(ws["scan"])))
    return path


def _bytes_manifest(tmp: Path, ws: dict[str, Path], data: bytes, name: str = "m.csv") -> Path:
    path = tmp / name
    path.write_bytes(data.replace(b"IMG", str(ws["scan"]).encode()))
    return path


# --- manifests: validate, split, preprocess, run read them the same way --------------------

MANIFESTS: dict[str, tuple[str | bytes, str]] = {
    "extra fields": ("subject_id,image,age\na,IMG,30\nb,IMG,40,x,y\n", "row 3: 5 fields"),
    "latin-1": ("subject_id,image,age\nJosé,IMG,30\n".encode("latin-1"), "not UTF-8 text"),
    "empty": ("", "manifest is empty"),
    "header only": ("subject_id,image,age\n", "no scans listed"),
    "missing column": ("subject_id,image\na,IMG\n", "missing column.s. age"),
    "age text": ("subject_id,image,age\na,IMG,old\n", "age must be a number"),
    "age negative": ("subject_id,image,age\na,IMG,-4\n", "age must be >= 0"),
    "age inf": ("subject_id,image,age\na,IMG,inf\n", "age must be >= 0"),
    "age 300": ("subject_id,image,age\na,IMG,300\n", "age must be <= 120"),
    "duplicate id": ("subject_id,image,age\na,IMG,30\na,IMG,31\n", "duplicate subject_id"),
    "label 2": ("subject_id,image,age,label\na,IMG,30,2\n", "label must be 0"),
    "bad split": ("subject_id,image,age,split\na,IMG,30,training\n", "split must be one of"),
    "image missing": ("subject_id,image,age\na,nope.nii.gz,30\n", "image file not found"),
    "image not nifti": ("subject_id,image,age\na,m.csv,30\n", "must be a .nii or .nii.gz"),
    "bom crlf bad age": (
        b"\xef\xbb\xbfsubject_id,image,age\r\na,IMG,x\r\n",
        "age must be a number",
    ),
    "repeated column": ("subject_id,image,age,age\na,IMG,3,4\n", "appear more than once"),
}


def _manifest_case(command: str, bad: str) -> None:
    content, message = MANIFESTS[bad]

    def build(ws: dict[str, Path], tmp: Path) -> tuple[list[str], Path, str]:
        if isinstance(content, bytes):
            path = _bytes_manifest(tmp, ws, content)
        else:
            path = _manifest(tmp, ws, content)
        argv = {
            "validate": ["validate", str(path)],
            "split": ["split", str(path), "-o", str(tmp / "out" / "splits.csv")],
            "preprocess": ["preprocess", str(path), "-o", str(tmp / "out"), "--jobs", "1"],
        }[command]
        return argv, path, message

    CASES[f"{command}: manifest {bad}"] = build


for _bad in MANIFESTS:
    _manifest_case("validate", _bad)
for _bad in ("extra fields", "latin-1", "age inf", "duplicate id"):
    _manifest_case("split", _bad)
    _manifest_case("preprocess", _bad)


@case("validate: manifest is a folder")
def _(ws, tmp):
    folder = tmp / "m.csv"
    folder.mkdir()
    return ["validate", str(folder)], folder, "participants.tsv not found"


@case("validate: manifest missing")
def _(ws, tmp):
    return ["validate", str(tmp / "none.csv")], tmp / "none.csv", "manifest not found"


# --- BIDS participants.tsv ------------------------------------------------------------------

PARTICIPANTS: dict[str, tuple[bytes, str]] = {
    "latin-1": ("participant_id\tage\tsite\nsub-01\t40\tKöln\n".encode("latin-1"), "not UTF-8"),
    "escaping id": (b"participant_id\tage\nsub-01\t40\n../other/sub-01\t41\n", "must be sub-<"),
    "extra fields": (b"participant_id\tage\nsub-01\t40\nsub-02\t41\tx\n", "row 3: 3 fields"),
    "listed twice": (b"participant_id\tage\nsub-01\t40\nsub-01\t41\n", "listed twice"),
}


def _bids_case(command: str, bad: str) -> None:
    content, message = PARTICIPANTS[bad]

    def build(ws: dict[str, Path], tmp: Path) -> tuple[list[str], Path, str]:
        root = copy(ws["bids"], tmp / "bids")
        (root / "participants.tsv").write_bytes(content)
        argv = {
            "validate": ["validate", str(root)],
            "bids": [
                "bids",
                str(root),
                str(tmp / "out"),
                "participant",
                "--model",
                str(ws["bundle"]),
            ],
        }[command]
        return argv, root / "participants.tsv", message

    CASES[f"{command}: participants.tsv {bad}"] = build


for _bad in PARTICIPANTS:
    _bids_case("validate", _bad)
    _bids_case("bids", _bad)


@case("validate: participants.tsv is a folder")
def _(ws, tmp):
    root = copy(ws["bids"], tmp / "bids")
    (root / "participants.tsv").unlink()
    (root / "participants.tsv").mkdir()
    return ["validate", str(root)], root / "participants.tsv", "expected a tab-separated"


# --- split sizes ------------------------------------------------------------------------------

for _sizes in ("nan,0.5,0.5", "inf,1,1", "1,2", "0,0,0", "a,b,c"):

    def _split_sizes(ws, tmp, sizes=_sizes):  # type: ignore[no-untyped-def]
        out = tmp / "out" / "splits.csv"
        argv = ["split", str(ws["manifest"]), "-o", str(out), "--healthy", sizes]
        return argv, Path("--healthy"), "expected 3"

    CASES[f"split: --healthy {_sizes}"] = _split_sizes


# --- preprocess -------------------------------------------------------------------------------


@case("preprocess: skull-strip mask without a mask column")
def _(ws, tmp):
    argv = ["preprocess", str(ws["manifest"]), "-o", str(tmp / "out"), "--skull-strip", "mask"]
    return argv, ws["manifest"], "skull_strip 'mask' needs a brain mask"


@case("preprocess: config with an unknown key")
def _(ws, tmp):
    cfg = tmp / "prep.yaml"
    cfg.write_text("skull_strip: none\nbogus: 1\n")
    argv = ["preprocess", str(ws["manifest"]), "-o", str(tmp / "out"), "--config", str(cfg)]
    return argv, cfg, "unknown preprocessing setting"


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
    manifest = _manifest(tmp, ws, MANIFESTS["extra fields"][0])  # type: ignore[arg-type]
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


# --- the checks ---------------------------------------------------------------------------


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    commands = {name.split(":")[0].split()[0] for name in CASES}
    assert commands >= {
        "validate",
        "split",
        "preprocess",
        "train",
        "score",
        "evaluate",
        "report",
        "export",
        "predict",
        "run",
        "cohort",
        "bids",
        "synth",
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_cleanly(
    name: str, ws: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, named, message = CASES[name](ws, tmp_path)
    shared = [ws["bundle"].parent]
    before = snapshot(tmp_path, *shared)
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, f"{name}: exit {status}\n{err}"
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert str(named) in err, f"{name}: {named} not named in\n{err}"
    assert re.search(message, err, re.S), f"{name}: {message!r} not in\n{err}"
    assert snapshot(tmp_path, *shared) == before, f"{name}: the workspace changed"
