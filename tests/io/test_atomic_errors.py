"""Failed writes name the destination, not a temporary, and leave nothing behind."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from brainuad.errors import InputFileError
from brainuad.io.atomic import atomic_path, ensure_folder, reserve_space, write_text_atomic


def test_library_error_wrapping_an_errno_becomes_an_os_error(tmp_path: Path) -> None:
    path = tmp_path / "best.safetensors"
    message = 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "x" })'
    with pytest.raises(OSError, match="No space left on device") as info:
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError(message)  # what safetensors raises on a full disk
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through_unchanged(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="bad"), atomic_path(tmp_path / "a.csv"):
        raise InputFileError("a.csv", "bad")
    with pytest.raises(KeyError), atomic_path(tmp_path / "a.csv"):
        raise KeyError("a bug stays a bug")
    assert list(tmp_path.iterdir()) == []


def test_a_file_where_a_folder_must_go_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError, match="expected a folder, found a file") as info:
        write_text_atomic(tmp_path / "plain" / "deeper" / "m.json", "{}")
    assert info.value.filename == str(tmp_path / "plain")
    assert ensure_folder(tmp_path / "n" / "m") == [tmp_path / "n" / "m", tmp_path / "n"]


def test_memory_mapped_arrays_are_allocated_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sparse memmap on a full disk kills its writer with SIGBUS; allocated first, the disk
    answers ENOSPC at once, as an OSError naming the file."""
    import os

    import numpy as np

    out = tmp_path / "volumes.npy"
    arr = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(1, 64, 64, 64))
    del arr
    sparse = os.stat(out).st_blocks * 512
    reserve_space(out)
    allocated = os.stat(out).st_blocks * 512
    if sparse >= out.stat().st_size:
        pytest.skip("this file system does not make sparse files")
    assert allocated >= out.stat().st_size > sparse

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="No space left on device") as info:
        reserve_space(out)
    assert info.value.filename == str(out)
