"""Model bundles and prediction on new scans: the product of a trained study.

* :func:`export_bundle` / :func:`export_best` (``brainuad export RESULTS_DIR --out MODEL_DIR``)
  and :func:`export_run` (a bare ``brainuad train`` folder + its cache): a folder of plain files
  (weights in safetensors, configs, healthy reference distributions, combined weights, operating
  points, training age range, versions), see :mod:`brainuad.bundle.format`.
* :func:`load_bundle` -> :class:`Bundle`: verified (format version, SHA-256 of every file),
  pickle-free, on CPU or GPU, without the training data.
* :func:`predict_scan` (in memory) and :func:`predict_to_folder` (``brainuad predict``): the
  training preprocessing, every score with its percentile among healthy reference subjects, the
  combined score and its flag at each operating point, brain age and gap, quality warnings and
  a voxel-wise anomaly map on the input scan's grid (NIfTI + PNG overview).
"""

from brainuad.bundle.batch import PredictReport, predict_to_folder, scans_from_cohort
from brainuad.bundle.export import choose_best_method, export_best, export_bundle, write_bundle
from brainuad.bundle.export_run import export_run
from brainuad.bundle.format import BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION
from brainuad.bundle.load import Bundle, load_bundle
from brainuad.bundle.predict import (
    ScanInput,
    ScanPrediction,
    predict_preprocessed,
    predict_scan,
    preprocess_scan,
    validate_age,
)
from brainuad.bundle.quality import QualityReport, check_quality
from brainuad.bundle.reference import CombinedWeights, OperatingPoint, Reference, operating_points

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "Bundle",
    "CombinedWeights",
    "OperatingPoint",
    "PredictReport",
    "QualityReport",
    "Reference",
    "ScanInput",
    "ScanPrediction",
    "check_quality",
    "choose_best_method",
    "export_best",
    "export_bundle",
    "export_run",
    "load_bundle",
    "operating_points",
    "predict_preprocessed",
    "predict_scan",
    "predict_to_folder",
    "preprocess_scan",
    "scans_from_cohort",
    "validate_age",
    "write_bundle",
]
