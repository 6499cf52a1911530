"""Cohort recipes: public dataset downloads -> brainuad manifests with ages.

- :func:`build_ixi` (:mod:`.ixi`): IXI T1 heads + ``IXI.xls`` ages (healthy, ``site`` column).
- :func:`build_brats` (:mod:`.brats`): BraTS 2018/2019/2020 native T1 + segmentation as
  ``lesion_mask`` + survival-table ages (anomalous, ``grade`` column).
- :func:`write_build` (:mod:`.build`): the manifest and ``<name>_exclusions.csv`` beside it,
  listing every subject left out (no age, inconsistent ages, ...) or kept with a note.

Subjects without an age are never given one. ``brainuad cohort ixi|brats`` wraps these; a study
config reads several manifests as one cohort (``cohort: [ixi.csv, brats.csv]``).
"""

from brainuad.cohorts.brats import build_brats
from brainuad.cohorts.build import CohortBuild, Entry, report_path, write_build
from brainuad.cohorts.ixi import build_ixi

__all__ = ["CohortBuild", "Entry", "build_brats", "build_ixi", "report_path", "write_build"]
