"""``--executor dask``: the same cache as the local process pool; clear errors without Dask."""

from __future__ import annotations

import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest
from prep_phantoms import cache_files, small_config, write_cohort

from brainuad.cli.main import main
from brainuad.errors import ConfigError
from brainuad.preprocessing import dask_runner, preprocess_cohort
from brainuad.preprocessing import subject as subject_module
from brainuad.preprocessing.workers import Task


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    """Two single-threaded in-process workers: a real scheduler, quick to start."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as local:
        yield local


def test_dask_cache_equals_the_local_one(
    cluster: distributed.LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = types.SimpleNamespace(perf_counter=lambda: 0.0, process_time=lambda: 0.0)
    monkeypatch.setattr(subject_module, "time", clock)  # timings measure runs, not results
    data = tmp_path / "data"
    data.mkdir()
    cohort = write_cohort(data, 4, bad=True, lesions=True)
    local = preprocess_cohort(
        cohort, tmp_path / "local", config=small_config(), jobs=1, progress=False
    )
    on_dask = preprocess_cohort(
        cohort,
        tmp_path / "dask",
        config=small_config(),
        progress=False,
        executor="dask",
        scheduler=cluster.scheduler_address,
    )
    assert (on_dask.n_processed, len(on_dask.failures)) == (4, 1)
    assert on_dask.failures == local.failures
    assert cache_files(tmp_path / "dask") == cache_files(tmp_path / "local")
    # the workers wrote every subject file, with absolute paths whatever the working directory
    assert len(list((tmp_path / "dask" / "subjects").glob("*.npz"))) == 4


def test_a_task_error_on_a_worker_is_reported_per_subject(
    cluster: distributed.LocalCluster,
) -> None:
    def explode(task: Task, config: object) -> dict:
        if task.subject_id == "bad":
            raise MemoryError("no room")
        return {"meta": {"subject_id": task.subject_id}, "error": None}

    tasks = [
        Task(s, f"/x/{s}.nii.gz", None, None, f"/x/{s}.npz", "0" * 64) for s in "a bad".split()
    ]
    with distributed.Client(cluster) as client:
        results = dask_runner.run_tasks_dask(
            tasks, small_config(), client=client, progress=False, fn=explode
        )
    assert results[0] == {"meta": {"subject_id": "a"}, "error": None}
    assert results[1] == {"error": "MemoryError: no room"}


def _args(tmp_path: Path) -> list[str]:
    cohort = write_cohort(tmp_path, 1)
    return ["preprocess", str(cohort), "--out", str(tmp_path / "c"), "--no-progress"]


def test_cli_errors_without_dask_or_with_a_bad_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(tmp_path)
    cases = [
        (["--executor", "spark"], "--executor: expected one of local, dask, found 'spark'"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler applies to --executor dask"),
        (["--executor", "dask", "--scheduler", str(tmp_path / "s.json")], "file"),
    ]
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT_S", 1)
    cases.append(
        (["--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"], "cannot connect")
    )
    for extra, message in cases:
        code = main([*args, *extra])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and message in err, (extra, err)
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c" / "cache.json").exists()

    monkeypatch.setitem(sys.modules, "distributed", None)  # Dask not installed
    assert main([*args, "--executor", "dask"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'brainuad[dask]'" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match=r"brainuad\[dask\]"):
        dask_runner.import_distributed()
