"""One writer per output folder: an advisory lock held for the lifetime of a command.

``with folder_lock(out, "brainuad run"):`` takes an exclusive, non-blocking ``fcntl.flock`` on
``out/.brainuad.lock`` and writes who holds it (pid, host, command, start time) into the file.
A second process asking for the same folder is refused at once with a :class:`BusyError` that
names the folder and the holder. The kernel releases a ``flock`` when its process dies, so a
lock left by a killed process (``kill -9``, a crash, a lost node) is stale by construction: the
next command takes it over without any clean-up. On release the lock file is removed, and so is
the folder when the lock created it and nothing else was written there (a command refused for a
bad input leaves no trace); a process that opened the lock file just before it was removed sees
that the path no longer names its file and tries again, so two holders are impossible.

Right after taking the lock, the folder's stale temporaries (leftovers of killed writes, see
:mod:`brainuad.io.stale`) are removed: its top level, or the whole tree with ``clean="tree"``.

Locks are re-entrant within a process: a command that locks ``out`` and then calls a stage that
locks the same folder does not deadlock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from brainuad.errors import BusyError
from brainuad.io.atomic import ensure_folder

LOCK_NAME = ".brainuad.lock"

_SUFFIX = ".brainuad.lock"
_held: dict[Path, int] = {}  # lock file -> nesting depth, for this process


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    pid, host, cmd = info.get("pid"), info.get("host"), info.get("command")
    since = info.get("started")
    parts = [f"pid {pid}" if pid else "another process"]
    if host and host != socket.gethostname():
        parts.append(f"on {host}")
    if cmd:
        parts.append(f"({cmd})")
    if since:
        parts.append(f"since {since}")
    return " ".join(parts)


def _open_locked(folder: Path, path: Path, label: Path) -> int:
    """A descriptor of ``path`` holding its exclusive flock (BusyError when held elsewhere)."""
    import fcntl

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:  # read-only folder, no permission, ...
            raise OSError(exc.errno, exc.strerror, str(folder)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BusyError(
                f"{label}: in use by {_holder(path)}; wait for it to finish or use another "
                "output location"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed this file while we opened it: take the new one


@contextlib.contextmanager
def folder_lock(
    folder: str | Path, command: str = "", *, clean: str = "top", name: str = LOCK_NAME
) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block.

    ``name`` is the lock file's name (:func:`file_lock` locks one file of a folder).

    ``clean``: remove stale temporaries of killed processes from the folder's top level
    (``"top"``), its whole tree (``"tree"``) or not at all (``"none"``) once the lock is held.

    Raises:
        BusyError: another live process holds the lock (message names the folder and holder).
        OSError: the folder cannot be created or written (its ``filename`` is the folder).
    """
    import fcntl

    from brainuad.io.stale import clean_stale

    folder = Path(folder).resolve()
    path = folder / name
    label = folder if name == LOCK_NAME else folder / name.removeprefix(".").removesuffix(_SUFFIX)
    if path in _held:
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    for attempt in range(3):  # another lock may remove the folder it created just now
        created = ensure_folder(folder)
        try:
            fd = _open_locked(folder, path, label)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
        except BaseException:
            _remove_empty(created)
            raise
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command or " ".join(["brainuad", *sys.argv[1:]])[:200],
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        with contextlib.suppress(OSError):  # who holds it is a courtesy: a full disk is not
            os.ftruncate(fd, 0)  # a lock problem, the command's own writes will report it
            os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        _held[path] = 1
        try:
            if clean != "none":
                clean_stale(folder, recursive=clean == "tree")
            yield path
        finally:
            del _held[path]
            with contextlib.suppress(OSError):
                path.unlink()  # still holding the flock: see the module docstring
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
        _remove_empty(created)


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders this lock created, deepest first, as long as they are empty."""
    for p in created:
        try:
            p.rmdir()
        except OSError:
            return


def file_lock(path: str | Path, command: str = "") -> contextlib.AbstractContextManager[Path]:
    """Hold the lock of one output file (``.<name>.brainuad.lock`` beside it): two commands
    writing the same file are refused, commands writing other files of the folder are not."""
    path = Path(path)
    return folder_lock(path.parent, command, name=f".{path.name}{_SUFFIX}")
