"""The BIDS App: ``brainuad bids BIDS_DIR OUTPUT_DIR participant|group``.

Follows the BIDS-Apps convention (one call per participant, e.g. one cluster array task each,
then one group call):

* :func:`run_participants` screens the selected participants' T1w scans with a model bundle
  (preprocessing + prediction of :mod:`brainuad.bundle`) and writes BIDS derivatives to
  ``OUTPUT_DIR/brainuad`` (:mod:`.derivatives`); scans already done are skipped, a failing
  participant is recorded and the others finish.
* :func:`run_group` collects every scan's scores into ``group_scores.tsv`` and writes
  ``group_report.html``.

The input dataset is read and validated with pybids (:mod:`.dataset`;
``pip install 'brainuad[bids]'``).
"""

from brainuad.bids.dataset import BidsDataset, BidsScan, read_dataset
from brainuad.bids.group import GroupResult, collect, run_group
from brainuad.bids.participant import ParticipantOutcome, ParticipantRun, run_participants

__all__ = [
    "BidsDataset",
    "BidsScan",
    "GroupResult",
    "ParticipantOutcome",
    "ParticipantRun",
    "collect",
    "read_dataset",
    "run_group",
    "run_participants",
]
