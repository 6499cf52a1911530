"""Stage bookkeeping of a study run: fingerprints, timings and versions in ``run_state.json``.

Each stage records the fingerprint of everything it was computed from (its inputs' fingerprints
and its own settings). A stage whose recorded fingerprint matches and whose outputs exist is
skipped; any change upstream changes the fingerprints downstream, so exactly the stages that
depend on the change run again. The file is rewritten atomically after every stage, so a run
killed anywhere keeps the record of every stage that finished.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from brainuad.io.atomic import write_json_atomic

VERSION_PACKAGES = (
    "brainuad",
    "torch",
    "numpy",
    "scipy",
    "nibabel",
    "SimpleITK",
    "nilearn",
    "scikit-learn",
    "pandas",
    "deepbet",
)


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """SHA-256 (first 16 hex digits) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def package_versions(names: Iterable[str] = VERSION_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that determine the results (absent ones omitted)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


class RunState:
    """The ``run_state.json`` of a results folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {"stages": {}}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.data = {"stages": {}}  # a corrupt record only costs recomputation
        self.data.setdefault("stages", {})

    def is_done(self, stage: str, fp: str, outputs: Iterable[Path] = ()) -> bool:
        """True when ``stage`` finished with fingerprint ``fp`` and its outputs exist."""
        rec = self.data["stages"].get(stage, {})
        return (
            bool(rec.get("done"))
            and rec.get("fingerprint") == fp
            and all(Path(p).exists() for p in outputs)
        )

    def started_with(self, stage: str) -> str | None:
        """The fingerprint ``stage`` was last started with (finished or not)."""
        return self.data["stages"].get(stage, {}).get("fingerprint")

    def start(self, stage: str, fp: str) -> float:
        """Record that ``stage`` started with ``fp``; returns a start time for :meth:`finish`."""
        rec = self.data["stages"].get(stage, {})
        if rec.get("fingerprint") != fp:
            rec = {}
        rec.update({"fingerprint": fp, "done": False})
        self.data["stages"][stage] = rec
        self.save()
        return time.perf_counter()

    def finish(self, stage: str, started: float, **info: Any) -> None:
        """Mark ``stage`` done, adding its wall time (accumulated over resumed attempts)."""
        rec = self.data["stages"][stage]
        rec["seconds"] = round(
            float(rec.get("seconds_before", 0.0)) + time.perf_counter() - started, 3
        )
        rec["seconds_before"] = rec["seconds"]
        rec["done"] = True
        rec["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rec.update(info)
        self.save()

    def interrupted(self, stage: str, started: float) -> None:
        """Keep the time spent in an interrupted attempt (counted when the stage finishes)."""
        rec = self.data["stages"].get(stage)
        if rec is not None:
            rec["seconds_before"] = round(
                float(rec.get("seconds_before", 0.0)) + time.perf_counter() - started, 3
            )
            self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)
