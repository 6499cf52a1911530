"""The participant level of the BIDS App: screen each participant's T1w scans.

For every selected participant (all of them without ``--participant-label``), in groups of
``batch_size`` participants: take the participant folder's lock (a second process given the
same participant skips it), leave out the scans already done with this model, preprocess and
score the rest with :func:`brainuad.bundle.predict_to_folder` (the training preprocessing of
the bundle, batched model passes, ``jobs`` preprocessing processes), write the derivatives
(:mod:`brainuad.bids.derivatives`) and the participant's ``log/status.json``. A scan or
participant that fails is recorded there and the others go on.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from brainuad.bids import derivatives as deriv
from brainuad.bids.dataset import BidsDataset, read_dataset
from brainuad.errors import BusyError, ConfigError
from brainuad.io.lock import folder_lock


@dataclass(frozen=True)
class ParticipantOutcome:
    """One participant of a run: ``status`` is ok, failed, done (skipped: all scans were
    already done) or busy (another process holds it); ``errors`` maps scan -> message."""

    participant: str
    status: str
    n_scans: int
    n_screened: int
    errors: dict[str, str]

    def line(self) -> str:
        """One line for the console."""
        if self.status == "done":
            return f"{self.participant}: already done ({self.n_scans} scan(s)), skipped"
        if self.status == "busy":
            return f"{self.participant}: SKIPPED, {self.errors.get('', 'in use')}"
        text = f"{self.participant}: {self.n_screened}/{self.n_scans} scan(s) screened"
        if self.errors:
            first = next(iter(self.errors.items()))
            text += f"; FAILED {first[0] or self.participant}: {first[1]}"
        return text


@dataclass(frozen=True)
class ParticipantRun:
    """What :func:`run_participants` did."""

    root: Path
    outcomes: tuple[ParticipantOutcome, ...]
    warnings: tuple[str, ...]
    seconds: float

    @property
    def failed(self) -> list[ParticipantOutcome]:
        return [o for o in self.outcomes if o.status in ("failed", "busy")]

    def summary(self) -> str:
        """The closing line."""
        counts = {s: sum(o.status == s for o in self.outcomes) for s in ("ok", "done", "failed")}
        busy = sum(o.status == "busy" for o in self.outcomes)
        return (
            f"{len(self.outcomes)} participant(s): {counts['ok']} screened, {counts['done']} "
            f"already done, {counts['failed']} failed"
            + (f", {busy} busy" if busy else "")
            + f" in {self.seconds:.1f} s -> {self.root}"
        )


def check_output_dir(bids_dir: Path, output_dir: Path) -> None:
    """OUTPUT_DIR may not be BIDS_DIR or inside it (except under its derivatives/)."""
    bids, out = bids_dir.resolve(), output_dir.resolve()
    inside = out == bids or bids in out.parents
    if inside and (bids / "derivatives") not in [out, *out.parents]:
        raise ConfigError(
            f"OUTPUT_DIR {output_dir} lies inside BIDS_DIR {bids_dir}: write the derivatives "
            f"elsewhere or under {bids_dir / 'derivatives'}"
        )


def run_participants(
    bids_dir: str | Path,
    output_dir: str | Path,
    model_dir: str | Path,
    *,
    participant_labels: Sequence[str] | None = None,
    session_labels: Sequence[str] | None = None,
    device: str = "auto",
    jobs: int = 1,
    batch_size: int = 8,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> ParticipantRun:
    """The participant level (module docstring). ``log`` gets one line per participant."""
    from brainuad.bundle import ScanInput, load_bundle, predict_to_folder

    start = time.perf_counter()
    bids_dir, output_dir = Path(bids_dir), Path(output_dir)
    if batch_size < 1 or jobs < 1:
        raise ConfigError(f"batch_size and jobs must be >= 1, found {batch_size} and {jobs}")
    dataset = read_dataset(bids_dir, participant_labels, session_labels)
    check_output_dir(bids_dir, output_dir)
    bundle = load_bundle(model_dir, device=device)
    model = deriv.model_info(bundle)
    root = deriv.derivatives_root(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    deriv.write_description(root, bids_dir, model)
    for warning in dataset.warnings:
        log(f"warning: {warning}")
    writer = deriv.make_writer(dataset)
    outcomes: list[ParticipantOutcome] = []
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(dataset.participants), desc="participants", unit="sub", disable=not show)
    try:
        for first in range(0, len(dataset.participants), batch_size):
            group = dataset.participants[first : first + batch_size]
            with contextlib.ExitStack() as locks:
                held = _lock_each(locks, root, group, outcomes, log)
                todo = {p: _pending(root, dataset, p, model) for p in held}
                scans = [s for p in held for s in todo[p]]
                report = predict_to_folder(
                    bundle,
                    [ScanInput(s.scan_id, s.image, s.age) for s in scans],
                    root,
                    batch_size=batch_size,
                    jobs=jobs,
                    progress=False,
                    errors_file=False,
                    writer=writer,
                )
                errors = {sid: error for sid, _, error in report.failures}
                for p in held:
                    outcome = _record(root, dataset, p, todo[p], errors, model)
                    outcomes.append(outcome)
                    log(outcome.line())
            bar.update(len(group))
    finally:
        bar.close()
    return ParticipantRun(root, tuple(outcomes), dataset.warnings, time.perf_counter() - start)


def _lock_each(
    locks: contextlib.ExitStack,
    root: Path,
    group: Sequence[str],
    outcomes: list[ParticipantOutcome],
    log: Callable[[str], None],
) -> list[str]:
    held = []
    for p in group:
        try:
            locks.enter_context(folder_lock(root / p, f"brainuad bids participant ({p})"))
        except BusyError as exc:
            outcome = ParticipantOutcome(p, "busy", 0, 0, {"": str(exc)})
            outcomes.append(outcome)
            log(outcome.line())
            continue
        held.append(p)
    return held


def _pending(root: Path, dataset: BidsDataset, participant: str, model: dict) -> list:
    sha = model["weights_sha256"]
    return [s for s in dataset.scans_of(participant) if not deriv.is_done(root, s, sha)]


def _record(
    root: Path,
    dataset: BidsDataset,
    participant: str,
    pending: list,
    errors: dict[str, str],
    model: dict,
) -> ParticipantOutcome:
    scans = dataset.scans_of(participant)
    if not scans:
        message = "no T1w scan (expected anat/sub-<label>[_ses-<label>]..._T1w.nii[.gz])"
        deriv.write_status(
            root, participant, {participant: {"status": "failed", "error": message}}, model
        )
        return ParticipantOutcome(participant, "failed", 0, 0, {participant: message})
    if not pending:
        return ParticipantOutcome(participant, "done", len(scans), 0, {})
    todo = {s.scan_id for s in pending}
    status = {}
    for s in scans:
        if s.scan_id in errors:
            status[s.scan_id] = {"status": "failed", "error": errors[s.scan_id]}
        else:
            status[s.scan_id] = {"status": "ok" if s.scan_id in todo else "done before"}
    deriv.write_status(root, participant, status, model)
    mine = {k: v for k, v in errors.items() if k in todo}
    return ParticipantOutcome(
        participant,
        "failed" if mine else "ok",
        len(scans),
        len(pending) - len(mine),
        mine,
    )
