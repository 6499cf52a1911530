"""Worker pool: a subject that kills its worker process is isolated and reported."""

from __future__ import annotations

from prep_phantoms import crashing_task, small_config

from brainuad.preprocessing.workers import CRASHED, Task, one_line_error, run_tasks


def _task(sid: str) -> Task:
    return Task(sid, f"{sid}.nii.gz", None, None, f"/nonexistent/{sid}.npz", "0" * 64)


def test_a_crashing_subject_does_not_take_the_others_down() -> None:
    tasks = [_task(s) for s in ("a", "crash", "fail", "b")]
    results = run_tasks(tasks, small_config(), jobs=2, progress=False, fn=crashing_task)
    by_id = {t.subject_id: r for t, r in zip(tasks, results, strict=True)}
    assert by_id["crash"]["error"] == CRASHED
    assert by_id["fail"]["error"] == "ValueError: bad subject"
    for sid in ("a", "b"):
        assert by_id[sid]["error"] is None and by_id[sid]["meta"]["subject_id"] == sid


def test_serial_run_and_error_lines() -> None:
    results = run_tasks(
        [_task("a"), _task("fail")], small_config(), jobs=1, progress=False, fn=crashing_task
    )
    assert [r["error"] for r in results] == [None, "ValueError: bad subject"]
    assert one_line_error(RuntimeError("first\nsecond")) == "RuntimeError: first"
    assert one_line_error(KeyError()) == "KeyError"
