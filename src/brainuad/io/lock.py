"""One writer per output folder: an advisory lock held for the lifetime of a command.

``with folder_lock(out, "brainuad run"):`` takes an exclusive, non-blocking ``fcntl.flock`` on
``out/.brainuad.lock`` and writes who holds it (pid, host, command, start time) into the file.
A second process asking for the same folder is refused at once with a :class:`BusyError` that
names the folder and the holder. The kernel releases a ``flock`` when its process dies, so a
lock left by a killed process (``kill -9``, a crash, a lost node) is stale by construction: the
next command takes it over without any clean-up. The lock file itself is left in place (removing
it would race with a process that has just opened it).

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

LOCK_NAME = ".brainuad.lock"

_held: dict[Path, int] = {}  # folder -> nesting depth, for this process


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


@contextlib.contextmanager
def folder_lock(folder: str | Path, command: str = "") -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block.

    Raises:
        BusyError: another live process holds the lock (message names the folder and holder).
    """
    import fcntl

    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder] += 1
        try:
            yield folder / LOCK_NAME
        finally:
            _held[folder] -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                f"{folder}: in use by {_holder(path)}; wait for it to finish or use another "
                "output folder"
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command or " ".join(["brainuad", *sys.argv[1:]])[:200],
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        _held[folder] = 1
        try:
            yield path
        finally:
            del _held[folder]
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
