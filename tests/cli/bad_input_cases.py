"""Cases of the bad-input corpus (cohort files: manifests, BIDS participants, split sizes,
preprocess); the checks are in test_bad_inputs.py.

A case builds its bad input under the case's own folder and returns ``(argv, path that the
error must name, regex of the message)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from bad_input_helpers import copy

Case = Callable[[dict[str, Path], Path], tuple[list[str], Path, str]]
CASES: dict[str, Case] = {}
NO_GPU = not torch.cuda.is_available()


def case(name: str, *, needs_no_gpu: bool = False):  # type: ignore[no-untyped-def]
    def register(fn: Case) -> Case:
        if not (needs_no_gpu and not NO_GPU):
            CASES[name] = fn
        return fn

    return register


def manifest_in(tmp: Path, ws: dict[str, Path], text: str, name: str = "m.csv") -> Path:
    """A manifest in ``tmp`` whose image paths point at the shared cohort."""
    path = tmp / name
    path.write_text(text.replace("IMG", str(ws["scan"])))
    return path


def bytes_manifest_in(tmp: Path, ws: dict[str, Path], data: bytes, name: str = "m.csv") -> Path:
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
            path = bytes_manifest_in(tmp, ws, content)
        else:
            path = manifest_in(tmp, ws, content)
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
