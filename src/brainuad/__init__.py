"""brainuad: unsupervised anomaly detection in 3D brain MRI with multi-task brain-age prediction.

Implements Bengs, Behrendt et al., "Unsupervised Anomaly Detection in 3D Brain MRI using Deep
Learning with Multi-Task Brain Age Prediction" (SPIE Medical Imaging 2022).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("brainuad")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
