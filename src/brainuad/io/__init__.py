"""Input and output: NIfTI volumes, cohort manifests, splits, the preprocessed cache."""

from brainuad.io.atomic import atomic_dir, atomic_path, write_json_atomic, write_text_atomic
from brainuad.io.nifti import Volume, is_nifti_path, load_volume, save_volume

__all__ = [
    "Volume",
    "atomic_dir",
    "atomic_path",
    "is_nifti_path",
    "load_volume",
    "save_volume",
    "write_json_atomic",
    "write_text_atomic",
]
