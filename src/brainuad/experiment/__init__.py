"""The whole study as one resumable run (``brainuad run``) and the demo (``brainuad demo``)."""

from brainuad.experiment.config import StudyConfig, load_study_config, study_config_from_dict
from brainuad.experiment.demo import DemoConfig, run_demo
from brainuad.experiment.runner import StudyResult, run_study

__all__ = [
    "DemoConfig",
    "StudyConfig",
    "StudyResult",
    "load_study_config",
    "run_demo",
    "run_study",
    "study_config_from_dict",
]
