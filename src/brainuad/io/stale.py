"""Removing the temporaries that a killed brainuad process left behind.

Every temporary file or folder brainuad writes is named ``.<name>.~<host>-<pid>.<rest>``
(:func:`brainuad.io.atomic.temp_prefix`): an atomic write's file (``.best.safetensors.~…``),
a report or bundle folder being assembled (``.report.~…``), the previous version of a folder
being replaced (``.report.~….old``), a cache file being linked into place. A process killed mid
write leaves such a name behind for ever; :func:`clean_stale` removes the ones whose process is
no longer alive on this host. A temporary of a live process, or of a process on another host
(a shared file system), is never touched, so the clean-up is safe even while other commands
write beside it. The commands call it right after taking their folder's lock
(:func:`brainuad.io.lock.folder_lock`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from brainuad.io.atomic import host_tag

# .<name>.~<6 hex host>-<pid>.<rest>
TEMP_NAME = re.compile(r"^\..+\.~(?P<host>[0-9a-f]{6})-(?P<pid>\d+)\..*$")
# folders never descended into: other hosts' or users' trees are not ours to clean
_SKIP_DIRS = {".git", "__pycache__"}


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host (or may exist: not ours to signal)."""
    if pid <= 0:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def is_stale(name: str, host: str | None = None) -> bool:
    """True when ``name`` is a brainuad temporary of a dead process of this host."""
    m = TEMP_NAME.match(name)
    if m is None or m["host"] != (host or host_tag()):
        return False
    return not pid_alive(int(m["pid"]))


def clean_stale(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """Remove the stale temporaries in ``folder`` (and below it with ``recursive``).

    Returns the removed paths. Errors (a file that vanished, no permission) are ignored: a
    leftover that cannot be removed does no harm beyond its disk space.
    """
    folder = Path(folder)
    host = host_tag()
    removed: list[Path] = []
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_stale(entry.name, host):
                if is_dir:
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        path.unlink()
                if not path.exists():
                    removed.append(path)
            elif recursive and is_dir and entry.name not in _SKIP_DIRS:
                stack.append(path)
    return sorted(removed)
