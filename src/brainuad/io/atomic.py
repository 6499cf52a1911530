"""Atomic file writes: write to a temporary file in the destination folder, then rename.

A reader never sees a half-written file, and a process killed mid-write leaves the previous
version of the file (if any) intact. Temporary names are ``.<name>.~<host>-<pid>.<random>``
(:func:`temp_prefix`), so that the next command can tell a leftover of a killed process from a
write in progress and remove it (:func:`brainuad.io.stale.clean_stale`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from brainuad.errors import BrainUADError


def host_tag() -> str:
    """Six hex digits naming this machine in temporary names (a shared file system may hold
    temporaries of processes on other hosts, which are never taken for leftovers)."""
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode("utf-8")).hexdigest()[:6]


def temp_prefix(name: str) -> str:
    """``.<name>.~<host>-<pid>.``: the start of every temporary name written for ``name``."""
    return f".{name}.~{host_tag()}-{os.getpid()}."


def ensure_folder(folder: str | Path) -> list[Path]:
    """Create ``folder`` and missing parents; returns the created ones, deepest first.

    Raises NotADirectoryError naming the file when the folder or one of its parents is a file.
    """
    folder = Path(folder)
    missing = []
    for p in (folder, *folder.parents):
        if p.is_dir():
            break
        if os.path.lexists(p):
            raise NotADirectoryError(errno.ENOTDIR, "expected a folder, found a file", str(p))
        missing.append(p)
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def reserve_space(path: str | Path) -> None:
    """Allocate the disk blocks of ``path`` (a file just sized by ``np.lib.format.open_memmap``).

    A memory-mapped file is sparse: on a full disk the page written last would kill the process
    with SIGBUS. Allocating first turns that into an ``OSError`` (``ENOSPC``) naming the file.
    """
    path = Path(path)
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if size > 0 and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(fd, 0, size)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from exc
    finally:
        os.close(fd)


def _from_library(exc: BaseException, path: Path) -> OSError | None:
    """An OSError for a library's error that wraps one (safetensors: ``Os { code: 28 ...``)
    or that a full disk explains; None when neither."""
    import re

    m = re.search(r"Os \{ code: (\d+)", str(exc))
    if m:
        code = int(m.group(1))
        return OSError(code, os.strerror(code), str(path))
    try:
        full = os.statvfs(path.parent).f_bavail == 0
    except OSError:
        full = False
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) if full else None


def _name_error(exc: OSError, path: Path) -> OSError:
    """The error with the destination ``path`` in place of a temporary or missing file name."""
    if exc.filename is not None and not Path(str(exc.filename)).name.startswith(f".{path.name}.~"):
        return exc  # names a real path (a parent folder, a file being read)
    if exc.errno is not None:
        return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))
    new = OSError(str(exc) or type(exc).__name__)
    new.filename = str(path)
    return new


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    ``suffix`` defaults to the destination's full suffix (e.g. ``.nii.gz``) so that libraries
    which pick a format by extension write the right one.
    """
    path = Path(path)
    if suffix is None:
        suffix = "".join(path.suffixes) or ".tmp"
    try:
        ensure_folder(path.parent)
        fd, tmp_name = tempfile.mkstemp(
            prefix=temp_prefix(path.name), suffix=suffix, dir=path.parent
        )
    except OSError as exc:
        raise _name_error(exc, path) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _name_error(exc, path) from exc
    except Exception as exc:  # a library's own error type for a failed write
        with contextlib.suppress(OSError):
            tmp.unlink()
        os_error = None if isinstance(exc, BrainUADError) else _from_library(exc, path)
        if os_error is None:
            raise
        raise os_error from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success it replaces ``path`` as a whole."""
    path = Path(path)
    try:
        ensure_folder(path.parent)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), dir=path.parent))
    except OSError as exc:
        raise _name_error(exc, path) from exc
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f"{temp_prefix(path.name)}old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _name_error(exc, path) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> None:
    """Serialise ``obj`` as JSON (sorted keys, trailing newline) to ``path`` atomically."""
    write_text_atomic(
        path, json.dumps(obj, indent=indent, sort_keys=True, default=json_default) + "\n"
    )


def json_default(obj: Any) -> Any:
    """JSON encoding of numpy scalars/arrays and paths (``json.dumps(default=...)``)."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def _umask() -> int:
    """The process umask (read from /proc where possible, so it is never changed)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
