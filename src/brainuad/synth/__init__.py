"""Synthetic T1-weighted brain MRI cohorts on real anatomy (MNI152 2009a, bundled in nilearn).

Normal subjects age realistically (cortical thinning, ventricle expansion, white-matter
lesions, GM/WM contrast loss); anomalous subjects carry a BraTS-like glioma with a necrotic
core, rim, oedema and mass effect. Volumes come with skull and noisy air background like a raw
scan (or skull-stripped) and a manifest that the rest of brainuad reads unchanged::

    from brainuad.synth import generate_cohort, save_preview
    manifest = generate_cohort("cohort", n_normal=20, n_anomalous=10, seed=0)
    save_preview(manifest, "cohort/preview.png")
"""

from brainuad.synth.cohort import generate_cohort, plan_cohort
from brainuad.synth.config import AgeDistribution, SynthConfig
from brainuad.synth.preview import save_preview
from brainuad.synth.subject import SyntheticSubject, generate_subject

__all__ = [
    "AgeDistribution",
    "SynthConfig",
    "SyntheticSubject",
    "generate_cohort",
    "generate_subject",
    "plan_cohort",
    "save_preview",
]
