"""The environment refusing a write: one ``error:`` line naming the path, exit 3, nothing changed.

A generated corpus across the commands that write: an output under a regular file, an output
file that is a folder, an output folder that is a file, a read-only output folder, and a full
disk. The tests run as root on the CI machine, where ``chmod`` does not stop a write, so the
read-only folder is simulated in-process: ``os.open`` refuses to create anything below it with
``EACCES`` (what the kernel answers for a read-only folder); the full disk is ``os.fsync``
answering ``ENOSPC`` (what a full disk or quota answers at the latest), and in a subprocess a
real ``RLIMIT_FSIZE`` of a few bytes (``EFBIG``).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from brainuad.cli.main import main
from evaluation.eval_helpers import scores_frame

FAST_EVAL = ["--n-resamples", "50", "--alpha-grid", "0:2:1", "--gamma-grid", "0:20:10"]


def _snapshot(folder: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path below ``folder`` with (is a folder, size, mtime in ns)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def _scores(root: Path) -> Path:
    path = root / "inputs" / "vae.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    scores_frame(0, method="VAE", age=False).to_csv(path, index=False)
    return path


def _cohort(root: Path) -> Path:
    import nibabel as nib
    import numpy as np

    from uad_testing import blob_volume, write_manifest_rows

    folder = root / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(6):
        nib.save(nib.Nifti1Image(blob_volume(seed=i), np.eye(4)), str(folder / f"s{i}.nii.gz"))
        rows.append(
            {
                "subject_id": f"s{i}",
                "image": f"s{i}.nii.gz",
                "age": str(20 + 9 * i),
                "label": str(i // 4),
            }
        )
    return write_manifest_rows(folder, rows)


# command -> (kind of output, its name, argv given (inputs root, output path))
Args = Callable[[Path, Path], list[str]]
COMMANDS: dict[str, tuple[str, str, Args]] = {
    "split": ("file", "splits.csv", lambda r, o: ["split", str(_cohort(r)), "--out", str(o)]),
    "evaluate": (
        "file",
        "metrics.json",
        lambda r, o: ["evaluate", str(_scores(r)), "--out", str(o), *FAST_EVAL],
    ),
    "preprocess": ("folder", "cache", lambda r, o: ["preprocess", str(_cohort(r)), "-o", str(o)]),
    "train": ("folder", "run", lambda r, o: ["train", str(r / "cache"), "-m", "vae", "-o", str(o)]),
    "synth": ("folder", "cohort", lambda r, o: ["synth", str(o), "--n-normal", "1"]),
    "demo": ("folder", "demo", lambda r, o: ["demo", "--out", str(o), "--quiet"]),
    "report": ("folder", "report", lambda r, o: ["report", str(r), "--out", str(o)]),
    "export": ("folder", "model", lambda r, o: ["export", str(r), "--out", str(o)]),
    "predict": ("folder", "pred", lambda r, o: ["predict", str(r), str(r), "--out", str(o)]),
}
# case -> accepted reasons (the kernel's words, or brainuad's for a file where a folder must go)
CASES = {
    "under-a-file": ("not a directory", "expected a folder, found a file"),
    "folder-is-a-file": ("expected a folder, found a file",),
    "read-only-folder": ("permission denied",),
}
# report and export replace their output folder as a whole (a file there included), and
# predict loads its bundle first: with no inputs these refuse the input (exit 2) before any write
REPLACED_AS_A_WHOLE = {"report", "export", "predict"}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def _check_one_line(err: str, path: Path, reasons: tuple[str, ...]) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    # progress notes (e.g. `preset: cpu`) may come before; the error is one line, the last
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert str(path) in errors[0] or str(path.resolve()) in errors[0], err
    assert any(r in errors[0].lower() for r in reasons), err


def _cases() -> list[tuple[str, str]]:
    out = []
    for command, (kind, _, _) in COMMANDS.items():
        for case in CASES:
            if case == "folder-is-a-file" and (kind == "file" or command in REPLACED_AS_A_WHOLE):
                continue  # file outputs: test_output_file_that_is_a_folder
            if command == "predict":
                continue  # needs a bundle: tests/bundle/test_batch_errors.py
            out.append((command, case))
    return out


@pytest.mark.parametrize(("command", "case"), _cases())
def test_output_location_refused(
    command: str,
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kind, name, argv = COMMANDS[command]
    where = tmp_path / "where"
    where.mkdir()
    if case == "under-a-file":
        (where / "plain").write_text("a file\n")
        out, named = where / "plain" / name, where / "plain"
    elif case == "folder-is-a-file":
        out = named = where / name
        out.write_text("a file\n")
    else:
        ro = where / "ro"
        ro.mkdir()
        out = ro / name
        named = out if kind == "folder" and command not in REPLACED_AS_A_WHOLE else ro
        real_open = os.open

        def refuse(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
            if flags & os.O_CREAT and str(Path(path).resolve()).startswith(str(ro.resolve())):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
        monkeypatch.setattr(os, "mkdir", _refuse_mkdir_below(ro, os.mkdir))
    inputs = tmp_path / "inputs_root"
    inputs.mkdir()
    args = argv(inputs, out)
    before = _snapshot(where)
    code, err = _run(args, capsys)
    assert code == 3, err
    _check_one_line(err, named, CASES[case])
    assert _snapshot(where) == before


def _refuse_mkdir_below(ro: Path, real_mkdir):  # type: ignore[no-untyped-def]
    def refuse(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(Path(path).resolve()).startswith(str(ro.resolve()) + os.sep):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_mkdir(path, *args, **kwargs)

    return refuse


@pytest.mark.parametrize("command", [c for c, (k, _, _) in COMMANDS.items() if k == "file"])
def test_output_file_that_is_a_folder(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, name, argv = COMMANDS[command]
    where = tmp_path / "where"
    out = where / name
    (out / "inside").mkdir(parents=True)
    inputs = tmp_path / "inputs_root"
    inputs.mkdir()
    args = argv(inputs, out)
    before = _snapshot(where)
    code, err = _run(args, capsys)
    assert code == 3, err
    _check_one_line(err, out, ("is a directory",))
    assert _snapshot(where) == before


@pytest.mark.parametrize("command", ["split", "evaluate"])
def test_full_disk_names_the_output_and_keeps_the_old_file(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, name, argv = COMMANDS[command]
    where = tmp_path / "where"
    where.mkdir()
    out = where / name
    out.write_text("the previous version\n")
    inputs = tmp_path / "inputs_root"
    inputs.mkdir()
    args = argv(inputs, out)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    before = _snapshot(where)
    code, err = _run(args, capsys)
    assert code == 3, err
    _check_one_line(err, out, ("no space left on device",))
    assert _snapshot(where) == before


def test_file_size_limit_in_a_real_process(tmp_path: Path) -> None:
    """A write the kernel refuses (RLIMIT_FSIZE: EFBIG), in a process of its own."""
    inputs = tmp_path / "inputs_root"
    inputs.mkdir()
    cohort = _cohort(inputs)
    where = tmp_path / "where"
    where.mkdir()
    out = where / "splits.csv"
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "from brainuad.cli.main import main\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (16, resource.RLIM_INFINITY))\n"
        f"sys.exit(main(['split', {str(cohort)!r}, '--out', {str(out)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 3, proc.stderr
    _check_one_line(proc.stderr, out, ("file too large",))
    assert _snapshot(where) == {}


def test_out_of_memory_is_an_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import brainuad.cli.data as data

    def no_memory(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise MemoryError("Unable to allocate 34.7 PiB for an array")

    monkeypatch.setattr(data, "assign_splits", no_memory)
    inputs = tmp_path / "inputs_root"
    inputs.mkdir()
    out = tmp_path / "where" / "splits.csv"
    code, err = _run(["split", str(_cohort(inputs)), "--out", str(out)], capsys)
    assert code == 3 and err.startswith("error: not enough memory"), err
    assert len(err.strip().splitlines()) == 1 and not out.parent.exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("a file\n")
    with pytest.raises(OSError):
        main(["--debug", "split", str(_cohort(tmp_path)), "--out", str(tmp_path / "plain" / "x")])


def test_end_of_data_is_an_input_error_not_an_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import brainuad.cli.data as data

    def truncated(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    monkeypatch.setattr(data, "assign_splits", truncated)
    inputs = tmp_path / "inputs_root"
    inputs.mkdir()
    code, err = _run(["split", str(_cohort(inputs)), "--out", str(tmp_path / "s.csv")], capsys)
    assert code == 2 and "Aborted" not in err, err
    assert err.strip().startswith("error: unexpected end of data") and "ended before" in err
