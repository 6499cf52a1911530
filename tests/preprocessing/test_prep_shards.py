"""Sharded preprocessing and its merge: identical to an unsharded run, refused when incomplete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from prep_phantoms import cache_files, small_config, write_cohort

from brainuad.cli.main import main
from brainuad.errors import BusyError, CacheError, ConfigError
from brainuad.io.manifest import read_cohort
from brainuad.preprocessing import parts, preprocess_cohort
from brainuad.preprocessing import pipeline as pipeline_module
from brainuad.preprocessing import subject as subject_module
from brainuad.preprocessing.parts import ShardSpec
from brainuad.preprocessing.shards import merge_parts, preprocess_shard


@pytest.fixture()
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-step seconds recorded in the cache measure a run, not its result: freeze them so
    that two runs can be compared byte for byte."""
    clock = types.SimpleNamespace(perf_counter=lambda: 0.0, process_time=lambda: 0.0)
    monkeypatch.setattr(subject_module, "time", clock)


@pytest.fixture()
def cohort(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return write_cohort(folder, 5, bad=True, lesions=True)


def run_shards(cohort: Path, out: Path, n: int, **kw: object) -> None:
    for i in range(1, n + 1):
        preprocess_shard(
            cohort, out, f"{i}/{n}", config=small_config(), jobs=1, progress=False, **kw
        )


def test_shards_deal_every_subject_once_in_balanced_shares(tmp_path: Path) -> None:
    cohort = read_cohort(write_cohort(tmp_path, 7))
    shares = [ShardSpec(i, 3).positions(cohort) for i in (1, 2, 3)]
    assert sorted(p for share in shares for p in share) == list(range(7))
    assert sorted(len(s) for s in shares) == [2, 2, 3]
    # the deal follows the sorted ids, not the manifest's row order
    reordered = type(cohort)(tuple(reversed(cohort.subjects)), cohort.source)
    ids = [{cohort.subjects[p].subject_id for p in s} for s in shares]
    assert ids == [
        {reordered.subjects[p].subject_id for p in ShardSpec(i, 3).positions(reordered)}
        for i in (1, 2, 3)
    ]
    assert ShardSpec.parse(" 2 / 8 ").name == "2-of-8" and ShardSpec(3, 12).name == "03-of-12"
    for bad in ("0/2", "3/2", "1/0", "a/b", "2"):
        with pytest.raises(ConfigError, match="--shard: expected I/N"):
            ShardSpec.parse(bad)


def test_sharded_and_merged_cache_is_byte_identical_to_unsharded(
    cohort: Path, tmp_path: Path, frozen_clock: None
) -> None:
    reference = tmp_path / "unsharded"
    preprocess_cohort(cohort, reference, config=small_config(), jobs=1, progress=False)
    out = tmp_path / "sharded"
    run_shards(cohort, out, 3)
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["1-of-3", "2-of-3", "3-of-3"]
    assert not (out / "cache.json").exists()
    result = merge_parts(out)
    assert result.n_parts == 3 and result.report is not None
    assert [f.subject_id for f in result.report.failures] == ["broken"]
    expected = cache_files(reference)
    assert {"cache.json", "errors.csv"} <= set(expected)
    assert any(name.startswith("lesions-") for name in expected)
    assert cache_files(out) == expected
    assert not (out / "parts").exists()
    assert sorted(p.name for p in (out / "subjects").iterdir()) == sorted(
        p.name for p in (reference / "subjects").iterdir()
    )
    # merging again: nothing to merge, nothing changed
    again = merge_parts(out)
    assert again.report is None and cache_files(out) == expected


def test_a_killed_merge_reruns_to_the_same_bytes(
    cohort: Path, tmp_path: Path, frozen_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "unsharded"
    preprocess_cohort(cohort, reference, config=small_config(), jobs=1, progress=False)
    out = tmp_path / "sharded"
    run_shards(cohort, out, 2)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    # killed while writing the cache arrays: no cache yet, parts intact
    monkeypatch.setattr(pipeline_module, "write_cache", killed)
    with pytest.raises(KeyboardInterrupt):
        merge_parts(out)
    monkeypatch.undo()
    assert not (out / "cache.json").exists() and len(parts.part_folders(out)) == 2
    # killed after the cache was committed, before the parts were removed
    monkeypatch.setattr(parts, "remove_folders", killed)
    with pytest.raises(KeyboardInterrupt):
        merge_parts(out)
    monkeypatch.undo()
    assert len(parts.part_folders(out)) == 2
    first = cache_files(out)
    assert first == cache_files(reference)
    # killed while deleting the parts: they are gone as a whole, never a partial set
    monkeypatch.setattr(parts.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        merge_parts(out)
    monkeypatch.undo()
    assert not parts.part_folders(out) and list(out.glob(".parts.removed-*"))
    assert merge_parts(out).report is None  # already merged; the leftovers are cleaned
    assert cache_files(out) == first and not list(out.glob(".parts*"))


def test_a_killed_shard_reuses_its_finished_subjects(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    first = preprocess_shard(cohort, out, "2/2", config=small_config(), jobs=1, progress=False)
    record = out / "parts" / "2-of-2" / "part.json"
    text = record.read_text()
    record.unlink()  # killed before the shard's commit point
    again = preprocess_shard(cohort, out, "2/2", config=small_config(), jobs=1, progress=False)
    assert (again.n_processed, again.n_reused) == (0, first.n_ok)
    assert json.loads(record.read_text()) == json.loads(text)


def test_the_next_unsharded_run_assembles_the_parts(
    cohort: Path, tmp_path: Path, frozen_clock: None
) -> None:
    reference = tmp_path / "unsharded"
    preprocess_cohort(cohort, reference, config=small_config(), jobs=1, progress=False)
    out = tmp_path / "cache"
    done = preprocess_shard(cohort, out, "1/2", config=small_config(), jobs=1, progress=False)
    report = preprocess_cohort(cohort, out, config=small_config(), jobs=1, progress=False)
    assert report.n_reused == done.n_ok and report.n_processed == 5 - done.n_ok
    assert cache_files(out) == cache_files(reference)
    assert not (out / "parts").exists()


def _merge_cli(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["cache", "merge", str(out)])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "missing shard(s) 2/2 of 2"),
        ("doubled", "shard 1/2 is there twice"),
        ("mixed fingerprints", "different preprocessing settings (fingerprints)"),
        ("mixed counts", "different shard counts N"),
        ("unfinished", "no part.json (the shard did not finish)"),
        ("other cohort", "different cohorts"),
    ],
)
def test_bad_part_sets_end_with_one_line_and_no_cache(
    case: str, message: str, cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cache"
    cfg = small_config()
    preprocess_shard(cohort, out, "1/2", config=cfg, jobs=1, progress=False)
    if case != "missing":
        other = small_config(n4=False) if case == "mixed fingerprints" else cfg
        preprocess_shard(cohort, out, "2/2", config=other, jobs=1, progress=False)
    if case == "doubled":
        shutil.copytree(out / "parts" / "1-of-2", out / "parts" / "1-of-2-copy")
    elif case == "mixed counts":
        preprocess_shard(cohort, out, "3/3", config=cfg, jobs=1, progress=False)
    elif case == "unfinished":
        (out / "parts" / "2-of-2" / "part.json").unlink()
    elif case == "other cohort":
        with open(cohort, "a", encoding="utf-8") as f:
            f.write("late,sub0.nii.gz,70,0,\n")
        preprocess_shard(cohort, out, "2/2", config=cfg, jobs=1, progress=False)
    before = sorted(p.name for p in (out / "parts").iterdir())
    code, err = _merge_cli(out, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (out / "cache.json").exists() and not list(out.glob("volumes-*"))
    assert sorted(p.name for p in (out / "parts").iterdir()) == before
    with pytest.raises(CacheError):
        merge_parts(out)


def _hold_lock(folder: Path) -> subprocess.Popen[str]:
    code = (
        "import sys, time\n"
        "from brainuad.io.lock import folder_lock\n"
        f"with folder_lock({str(folder)!r}, 'brainuad cache merge'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_two_merges_at_once_and_a_running_shard_are_refused(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cache"
    run_shards(cohort, out, 2)
    for held in (out, out / "parts" / "2-of-2"):  # another merge; a shard still running
        proc = _hold_lock(held)
        try:
            code, err = _merge_cli(out, capsys)
        finally:
            proc.kill()
            proc.wait()
        assert code != 0 and err.startswith("error: ") and "in use by pid" in err, err
        assert len(err.strip().splitlines()) == 1
        assert not (out / "cache.json").exists() and len(parts.part_folders(out)) == 2
    assert main(["cache", "merge", str(out)]) == 0
    assert (out / "cache.json").exists()


def test_the_same_shard_twice_at_once_is_refused(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    proc = _hold_lock(out / "parts" / "1-of-2")  # another process runs shard 1/2
    try:
        with pytest.raises(BusyError, match="in use by pid"):
            preprocess_shard(cohort, out, "1/2", config=small_config(), jobs=1, progress=False)
    finally:
        proc.kill()
        proc.wait()
    assert not (out / "parts" / "1-of-2" / "part.json").exists()


def test_cli_shards_then_merge(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cache"
    args = ["preprocess", str(cohort), "--out", str(out), "--skull-strip", "none"]
    args += ["--no-register", "--no-progress", "-j", "1"]
    assert main([*args, "--shard", "1/2", "--qc"]) == 2
    assert "--qc applies to the whole cache" in capsys.readouterr().err
    (tmp_path / "settings.yaml").write_text(
        "crop_shape: [40, 48, 42]\ntarget_shape: [16, 19, 17]\nvoxel_size: 4.0\n"
    )
    args += ["--config", str(tmp_path / "settings.yaml")]
    for i in (1, 2):
        assert main([*args, "--shard", f"{i}/2"]) == 0
    printed = capsys.readouterr().out
    assert "subjects in" in printed and f"brainuad cache merge {out}" in printed
    assert main(["cache", "merge", str(out), "--qc"]) == 0
    assert "merged 2 part(s)" in capsys.readouterr().out
    assert (out / "cache.json").exists() and (out / "qc" / "montage.png").exists()
