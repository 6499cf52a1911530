"""Raw T1 scans -> model-ready volumes (paper section 2.1), offline and deterministic.

Skull stripping (deepbet, the subject's mask, or none), affine registration to the MNI152 brain,
one resampling onto a 160x192x166 grid of 1 mm voxels, N4 bias-field correction, curvature-flow
denoising, standardisation to [0, 1] inside the brain, and anti-aliased 2.5x downsampling to
64x77x66. :func:`preprocess_subject` handles one scan in memory; :func:`preprocess_cohort`
writes a whole cohort into the cache (``brainuad.io.cache``), in parallel and incrementally.
:func:`to_native_space` maps a model-space map back onto the subject's scan.
"""

from brainuad.preprocessing.config import PreprocessConfig, load_config
from brainuad.preprocessing.geometry import SubjectGeometry, to_model_space, to_native_space
from brainuad.preprocessing.pipeline import (
    PreprocessReport,
    SubjectFailure,
    cache_settings,
    config_from_settings,
    preprocess_cohort,
)
from brainuad.preprocessing.store import load_geometry, load_lesion_fractions, load_lesions
from brainuad.preprocessing.subject import PreprocessedSubject, preprocess_subject

__all__ = [
    "PreprocessConfig",
    "PreprocessReport",
    "PreprocessedSubject",
    "SubjectFailure",
    "SubjectGeometry",
    "cache_settings",
    "config_from_settings",
    "load_config",
    "load_geometry",
    "load_lesion_fractions",
    "load_lesions",
    "preprocess_cohort",
    "preprocess_subject",
    "to_model_space",
    "to_native_space",
]
