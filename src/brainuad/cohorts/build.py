"""What a cohort recipe produces and how it is written: manifest + exclusions report.

A recipe (:mod:`.ixi`, :mod:`.brats`) returns a :class:`CohortBuild`: the subjects that go into
the manifest and an :class:`Entry` for every subject left out (``action`` ``excluded``) or kept
with something worth knowing (``action`` ``kept``, e.g. duplicate spreadsheet rows whose ages
agree). :func:`write_build` writes ``OUT.csv`` and ``OUT_exclusions.csv`` beside it, both
atomically.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainuad.errors import ConfigError, InputFileError
from brainuad.io.atomic import write_text_atomic
from brainuad.io.manifest import Subject, write_manifest

REPORT_COLUMNS = ("subject_id", "image", "action", "reason")


@dataclass(frozen=True)
class Entry:
    """One line of the exclusions report."""

    subject_id: str
    image: str
    action: str  # "excluded" or "kept"
    reason: str
    kind: str = ""  # short category for the summary ("no age", "inconsistent ages", ...)


@dataclass(frozen=True)
class CohortBuild:
    """Subjects of a dataset with ages, plus the report of what was left out and why.

    ``group`` names the per-subject column summarised on the console (``site`` or ``grade``);
    ``notes`` are cohort-level remarks (e.g. spreadsheet rows without an image).
    """

    dataset: str
    subjects: tuple[Subject, ...]
    entries: tuple[Entry, ...]
    group: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def excluded(self) -> list[Entry]:
        """Entries of subjects left out of the manifest."""
        return [e for e in self.entries if e.action == "excluded"]

    def summary(self, manifest: Path, report: Path) -> str:
        """Console lines: counts, age range, groups, exclusions by kind, where the files are."""
        ages = np.array([s.age for s in self.subjects], dtype=np.float64)
        lines = [
            f"wrote {manifest}: {len(self.subjects)} {self.dataset} subjects, ages "
            f"{ages.min():.1f}-{ages.max():.1f} y (mean {ages.mean():.1f} ± "
            f"{ages.std(ddof=1) if ages.size > 1 else 0.0:.1f})"
        ]
        if self.group:
            counts = Counter(s.extra.get(self.group, "") or "unknown" for s in self.subjects)
            listed = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            lines.append(f"{self.group}: {listed}")
        excluded = self.excluded
        if excluded:
            kinds = Counter(e.kind or e.reason for e in excluded)
            listed = ", ".join(f"{k}: {v}" for k, v in kinds.most_common())
            lines.append(f"excluded {len(excluded)} ({listed}); see {report}")
        else:
            lines.append(f"excluded none; report: {report}")
        kept = [e for e in self.entries if e.action == "kept"]
        if kept:
            kinds = Counter(e.kind or e.reason for e in kept)
            listed = ", ".join(f"{k}: {v}" for k, v in kinds.most_common())
            lines.append(f"kept with a note {len(kept)} ({listed})")
        lines.extend(self.notes)
        return "\n".join(lines)


def report_path(manifest: str | Path) -> Path:
    """``ixi.csv`` -> ``ixi_exclusions.csv`` (beside the manifest)."""
    manifest = Path(manifest)
    return manifest.with_name(f"{manifest.stem}_exclusions.csv")


def check_out(out: str | Path) -> Path:
    """Validate the manifest path given with ``--out`` (a ``.csv`` file name)."""
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise ConfigError(f"--out must name a .csv manifest, found {out}")
    if out.is_dir():
        raise ConfigError(f"--out must name a .csv file, found the folder {out}")
    return out


def write_build(build: CohortBuild, out: str | Path) -> tuple[Path, Path]:
    """Write the manifest and the exclusions report; return their paths.

    The report is always written; the manifest only when at least one subject has an age
    (otherwise :class:`InputFileError` points at the report).
    """
    out = check_out(out)
    report = report_path(out)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    base = report.parent.resolve()
    for e in build.entries:
        writer.writerow([e.subject_id, _relative(e.image, base), e.action, e.reason])
    write_text_atomic(report, buf.getvalue())
    if not build.subjects:
        raise InputFileError(
            out,
            f"no {build.dataset} subject has both a T1 image and an age, so no manifest was "
            f"written ({len(build.excluded)} excluded; see {report})",
        )
    write_manifest(out, build.subjects)
    return out, report


def _relative(image: str, base: Path) -> str:
    """The image path relative to the report's folder when it lies below it (as in manifests)."""
    path = Path(image).resolve()
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
