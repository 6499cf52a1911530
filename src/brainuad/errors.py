"""Exceptions raised by brainuad.

Every error caused by a user's input derives from :class:`BrainUADError`. Its message is one line
that says what was expected, what was found and which file was involved; the CLI prints it to
stderr and exits with status 2 instead of showing a traceback. An :class:`EnvironmentProblem`
(the system refused a read or write, a folder held by another process) exits with status 3; the
exit statuses are listed in ``docs/cli-contract.md``.
"""

from __future__ import annotations

from pathlib import Path


class BrainUADError(Exception):
    """Base class of every user-facing brainuad error (bad file, bad manifest, bad config...)."""


class InputFileError(BrainUADError, ValueError):
    """A file given by the user is missing, unreadable or does not hold what was expected."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ManifestError(BrainUADError, ValueError):
    """A cohort manifest or BIDS folder has one or more problems (all collected in one report)."""

    def __init__(self, source: str | Path, problems: list[str]) -> None:
        self.source = Path(source)
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{self.source}: {n} problem{'s' if n != 1 else ''} in cohort"
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in self.problems))


class ConfigError(BrainUADError, ValueError):
    """A configuration file or option value is invalid."""


class CacheError(BrainUADError, ValueError):
    """A preprocessed cache is missing, incomplete or does not match what was expected."""


class CheckpointError(BrainUADError, ValueError):
    """A checkpoint or model bundle is missing, tampered with or incompatible."""


class EnvironmentProblem(BrainUADError):
    """The machine, not the input, stopped the command: a full disk, a read-only or missing
    output folder, a path that is a file where a folder is needed, not enough memory, or a folder
    held by another process. The CLI exits with status 3."""


class BusyError(EnvironmentProblem):
    """A folder is locked by another running brainuad process (see :mod:`brainuad.io.lock`)."""


def describe_os_error(exc: OSError, path: str | Path | None = None) -> str:
    """``"<path>: <reason>"`` of an OSError on one line, e.g. ``out/m.json: no space left on
    device``; ``path`` replaces the error's own file name (a temporary one, or none)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    reason = reason[:1].lower() + reason[1:]
    name = path if path is not None else exc.filename
    if name is None:
        return reason
    text = f"{name}: {reason}"
    if path is None and exc.filename2 is not None:
        text += f" (-> {exc.filename2})"
    return text


def one_line_error(exc: BaseException) -> str:
    """One line for an ``errors.csv``: the message of a brainuad error (it names the file), else
    ``Type: first line of the message``."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(exc, BrainUADError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
