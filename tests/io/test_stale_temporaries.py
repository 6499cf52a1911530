"""Leftovers of a killed write are removed by the next command; live writes are never touched."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from brainuad.cli.main import main
from brainuad.io.atomic import atomic_dir, atomic_path, host_tag, temp_prefix
from brainuad.io.lock import folder_lock
from brainuad.io.stale import clean_stale, is_stale


def _killed_mid_write(folder: Path) -> int:
    """A process that starts an atomic file write, a report-like folder and is killed -9."""
    code = (
        "import time\n"
        "from pathlib import Path\n"
        "from brainuad.io.atomic import atomic_dir, atomic_path\n"
        f"folder = Path({str(folder)!r})\n"
        "with atomic_path(folder / 'runs' / 'best.safetensors') as tmp:\n"
        "    tmp.write_bytes(b'half a checkpoint')\n"
        "    with atomic_dir(folder / 'report') as d:\n"
        "        (d / 'report.html').write_text('<html>')\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*~*"))


def test_killed_writes_leave_named_temporaries_that_the_next_lock_removes(tmp_path: Path) -> None:
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    pid = _killed_mid_write(results)
    left = _leftovers(results)
    assert len(left) == 2 and all(f"~{host_tag()}-{pid}." in name for name in left), left
    assert {Path(n).name.split(".~")[0] for n in left} == {".best.safetensors", ".report"}
    with folder_lock(results, "top level only"):
        assert (
            _leftovers(results) == ["runs/" + Path(left[1]).name] or len(_leftovers(results)) == 1
        )
    with folder_lock(results, "whole tree", clean="tree"):
        assert _leftovers(results) == []
    assert sorted(p.name for p in results.iterdir()) == ["runs"]


def test_live_and_foreign_temporaries_are_kept(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "metrics.json") as tmp:
        tmp.write_text("{}")
        assert clean_stale(tmp_path) == [] and tmp.exists()  # our own write in progress
    foreign = tmp_path / ".x.json.~ffffff-1.abc.json"  # another host's process
    foreign.write_text("")
    assert not is_stale(foreign.name, host="000000")
    other_host = "000000" if host_tag() != "000000" else "111111"
    foreign = tmp_path / f".x.json.~{other_host}-999999999.abc.json"
    foreign.write_text("")
    lookalike = tmp_path / ".y.json.abcdef.json"  # not a brainuad name: never removed
    lookalike.write_text("")
    assert clean_stale(tmp_path, recursive=True) == []
    assert foreign.exists() and lookalike.exists() and (tmp_path / "metrics.json").exists()


def test_dead_temporaries_of_this_host_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale_file = tmp_path / f".m.json.~{host_tag()}-{pid}.k2j.json"
    stale_dir = tmp_path / "deep" / f".report.~{host_tag()}-{pid}.old"
    stale_dir.mkdir(parents=True)
    (stale_dir / "a.png").write_bytes(b"x")
    stale_file.write_text("{")
    assert is_stale(stale_file.name) and temp_prefix("m.json").startswith(".m.json.~")
    assert clean_stale(tmp_path) == [stale_file]
    assert clean_stale(tmp_path, recursive=True) == [stale_dir]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep"]


def test_a_command_cleans_its_output_folder_on_the_next_start(
    tmp_path: Path, small_cohort: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "outs"
    out_dir.mkdir()
    (out_dir / "runs").mkdir()
    _killed_mid_write(out_dir)
    before = _leftovers(out_dir)
    assert len(before) == 2
    out = out_dir / "splits.csv"
    assert main(["split", str(small_cohort), "--out", str(out)]) == 0, capsys.readouterr().err
    # the top level is cleaned; runs/ is another command's tree
    assert _leftovers(out_dir) == [n for n in before if n.startswith("runs/")]


def test_failed_writes_leave_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.csv") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "rep") as d:
        (d / "x").write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
