"""One writer per output: a second process is refused at once, a killed holder's lock is taken.

The holder is a real second process (``subprocess``) that takes the lock the way a command does
and waits; the command under test runs in this process through the CLI's ``main(argv)``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from brainuad.cli.main import main
from brainuad.errors import BusyError
from brainuad.io.lock import LOCK_NAME, file_lock, folder_lock


def _hold(target: Path, command: str, kind: str = "folder") -> subprocess.Popen[str]:
    """A process holding the lock of ``target`` (a folder, or one output file) until killed."""
    fn = "folder_lock" if kind == "folder" else "file_lock"
    code = (
        "import time\n"
        f"from brainuad.io.lock import {fn}\n"
        f"with {fn}({str(target)!r}, {command!r}):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _cohort(root: Path) -> Path:
    import nibabel as nib
    import numpy as np

    from uad_testing import blob_volume, write_manifest_rows

    rows = []
    for i in range(6):
        nib.save(nib.Nifti1Image(blob_volume(seed=i), np.eye(4)), str(root / f"s{i}.nii.gz"))
        rows.append(
            {"subject_id": f"s{i}", "image": f"s{i}.nii.gz", "age": str(20 + 9 * i), "label": "0"}
        )
    return write_manifest_rows(root, rows)


# commands whose output folder is locked before any input is read (cheap to refuse)
FOLDER_COMMANDS = {
    "train": lambda inp, out: ["train", str(inp / "cache"), "-m", "vae", "-o", str(out)],
    "preprocess": lambda inp, out: ["preprocess", str(_cohort(inp)), "-o", str(out)],
    "synth": lambda inp, out: ["synth", str(out), "--n-normal", "1", "--n-anomalous", "1"],
    "demo": lambda inp, out: ["demo", "--out", str(out), "--quiet"],
}


@pytest.mark.parametrize("command", sorted(FOLDER_COMMANDS))
def test_second_process_on_the_same_folder_is_refused(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("written by the first process\n")
    proc = _hold(out, "brainuad run study.yaml")
    try:
        code = main(FOLDER_COMMANDS[command](tmp_path, out))
        err = capsys.readouterr().err
    finally:
        _kill(proc)
    assert code == 3, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}: in use by pid {proc.pid}"), err
    assert err.strip().splitlines()[-1] == lines[0]  # after progress notes such as `preset: cpu`
    assert "(brainuad run study.yaml)" in lines[0] and "Traceback" not in err
    # the holder's files are untouched; its (now stale) lock file is the only other entry
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, "precious.txt"]


def test_run_on_a_held_results_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    config = tmp_path / "study.yaml"
    config.write_text(f"cohort: {_cohort(tmp_path)}\noutput: {results}\n", encoding="utf-8")
    proc = _hold(results, "brainuad run other.yaml")
    try:
        code = main(["run", str(config), "--quiet"])
        err = capsys.readouterr().err
    finally:
        _kill(proc)
    assert code == 3 and f"{results}: in use by pid {proc.pid}" in err, err
    assert sorted(p.name for p in results.iterdir()) == [LOCK_NAME]


def test_same_output_file_is_refused_other_files_are_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort = _cohort(tmp_path)
    out = tmp_path / "splits.csv"
    proc = _hold(out, "brainuad split", kind="file")
    try:
        assert main(["split", str(cohort), "--out", str(out)]) == 3
        err = capsys.readouterr().err
        assert f"{out}: in use by pid {proc.pid} (brainuad split)" in err and not out.exists()
        other = tmp_path / "other.csv"  # another file of the same folder
        assert main(["split", str(cohort), "--out", str(other)]) == 0 and other.exists()
    finally:
        _kill(proc)


def test_lock_of_a_killed_process_is_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort = _cohort(tmp_path)
    out = tmp_path / "splits.csv"
    proc = _hold(out, "brainuad split", kind="file")
    lock = tmp_path / ".splits.csv.brainuad.lock"
    _kill(proc)  # kill -9: no clean-up ran; the lock file still names the dead holder
    assert str(proc.pid) in lock.read_text()
    assert main(["split", str(cohort), "--out", str(out)]) == 0, capsys.readouterr().err
    assert out.exists() and not lock.exists()
    # the same for a folder lock: a killed holder's folder is free at once
    folder = tmp_path / "run"
    proc = _hold(folder, "brainuad train")
    _kill(proc)
    with folder_lock(folder, "test") as path:
        assert str(os.getpid()) in path.read_text()
    assert list(folder.iterdir()) == []  # the stale lock file is gone with our release


def test_lock_leaves_no_trace_and_is_reentrant(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    with folder_lock(out, "outer") as path, folder_lock(out, "inner") as again:
        assert path == again and path.exists()
        with pytest.raises(BusyError):  # another process would be refused: check with a child
            _refused_in_child(out)
    assert not (tmp_path / "a").exists()  # created by the lock, left empty: removed
    out.mkdir(parents=True)
    (out / "kept.txt").write_text("x")
    with folder_lock(out, "cmd"):
        pass
    assert [p.name for p in out.iterdir()] == ["kept.txt"]
    with file_lock(out / "kept.txt", "cmd") as path:
        assert path.name == ".kept.txt.brainuad.lock"
    assert [p.name for p in out.iterdir()] == ["kept.txt"]


def _refused_in_child(folder: Path) -> None:
    code = (
        "import sys\n"
        "from brainuad.errors import BusyError\n"
        "from brainuad.io.lock import folder_lock\n"
        "try:\n"
        f"    with folder_lock({str(folder)!r}):\n"
        "        sys.exit(0)\n"
        "except BusyError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode == 3:
        raise BusyError(proc.stdout.strip())
    raise AssertionError(f"the child took a held lock: {proc.returncode} {proc.stderr}")
