"""Fake IXI and BraTS downloads made of tiny synthetic NIfTIs (4 mm voxels, 36x44x38).

* IXI heads are raw-like: an ellipsoid brain, a dark gap, a bright scalp shell and noisy air
  (int16, never an exactly-zero background), named ``IXI002-Guys-0828-T1.nii.gz``.
* BraTS scans are brain-only with an exactly-zero background and a tumour blob whose
  segmentation carries the BraTS labels 1, 2 and 4, in the 2020 or the 2018/2019 layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (36, 44, 38)
VOXEL_MM = 4.0
RADII = np.array([0.8, 0.85, 0.8])


def _affine() -> np.ndarray:
    affine = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
    affine[:3, 3] = [-72.0, -88.0, -76.0]
    return affine


def _radius() -> tuple[np.ndarray, np.ndarray]:
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in SHAPE], indexing="ij"))
    return np.sqrt(((grid / RADII[:, None, None, None]) ** 2).sum(0)), grid


def fake_brain(
    age: float, rng: np.random.Generator, tumour: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """A brain-only scan (background exactly 0) and, with ``tumour``, its BraTS-style labels."""
    r, grid = _radius()
    brain = r < 1
    vol = np.where(brain, 0.7, 0.0) + 0.05 * rng.standard_normal(SHAPE) * brain
    vent = np.sqrt((grid**2).sum(0)) < 0.1 + 0.25 * (age - 18) / 72
    vol[vent] = 0.25
    seg = None
    if tumour:
        centre = rng.uniform(-0.35, 0.35, 3)[:, None, None, None]
        d = np.sqrt(((grid - centre) ** 2).sum(0))
        seg = np.zeros(SHAPE, np.uint8)
        seg[d < 0.32] = 2  # oedema
        seg[d < 0.22] = 4  # enhancing rim
        seg[d < 0.12] = 1  # necrotic core
        seg[~brain] = 0
        vol[seg == 2] = 0.5
        vol[seg == 4] = 0.95
        vol[seg == 1] = 0.15
    vol = np.clip(vol, 0.01, None) * brain  # > 0 inside, exactly 0 outside
    return (vol * 1000).astype(np.float32), seg


def fake_head(age: float, rng: np.random.Generator) -> np.ndarray:
    """A raw-like head: the brain, a dark gap, a bright scalp and noisy air (int16)."""
    brain, _ = fake_brain(age, rng, tumour=False)
    r, _ = _radius()
    vol = brain / 1000.0
    vol[(r >= 1.12) & (r < 1.3)] = 0.9
    noise = np.abs(0.03 + 0.02 * rng.standard_normal(SHAPE))
    vol = np.where(brain > 0, vol, np.maximum(vol, noise))
    return np.clip(np.rint(vol * 1000), 1, 32767).astype(np.int16)


def save(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, _affine()), str(path))
    return path


def write_ixi(folder: Path, scans: Sequence[tuple[int, str]], seed: int = 0) -> Path:
    """IXI T1 heads named like the archive (plus a T2 that must be ignored); returns the folder."""
    rng = np.random.default_rng(seed)
    for number, site in scans:
        save(folder / f"IXI{number:03d}-{site}-{1000 + number:04d}-T1.nii.gz", fake_head(50, rng))
    number, site = scans[0]
    save(folder / f"IXI{number:03d}-{site}-{1000 + number:04d}-T2.nii.gz", fake_head(50, rng))
    return folder


IXI_HEADER = ("IXI_ID", "SEX_ID", "HEIGHT", "WEIGHT", "DOB", "STUDY_DATE", "AGE")


def write_ixi_csv(path: Path, rows: Sequence[tuple[int | str, float | str]]) -> Path:
    """An IXI.xls exported as CSV: ``(IXI_ID, AGE)`` rows, other columns filled."""
    lines = [",".join(IXI_HEADER)]
    for ixi_id, age in rows:
        lines.append(f"{ixi_id},1,170,70,1960-01-01,2005-06-01,{age}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_ixi_xls(path: Path, rows: Sequence[tuple[int | str, float | str]]) -> Path:
    """The same table as a real .xls workbook (numbers as numbers, empty ages as blank cells)."""
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Table")
    for c, name in enumerate(IXI_HEADER):
        sheet.write(0, c, name)
    for r, (ixi_id, age) in enumerate(rows, start=1):
        values = [ixi_id, 1, 170, 70, "1960-01-01", "2005-06-01", age]
        for c, value in enumerate(values):
            if value != "":
                sheet.write(r, c, value)
    book.save(str(path))
    return path


def _brats_subject(folder: Path, sid: str, rng: np.random.Generator, seg_name: str | None) -> None:
    image, seg = fake_brain(60, rng, tumour=True)
    save(folder / sid / f"{sid}_t1.nii.gz", image)
    save(folder / sid / f"{sid}_t1ce.nii.gz", image * 1.5)  # must never be picked
    save(folder / sid / f"{sid}_flair.nii.gz", image)
    if seg_name is not None:
        save(folder / sid / seg_name.format(sid=sid), seg)  # type: ignore[arg-type]


def write_brats2020(
    root: Path,
    numbers: Sequence[int],
    ages: dict[int, str],
    *,
    odd_seg: int | None = None,
    seed: int = 1,
) -> Path:
    """``MICCAI_BraTS2020_TrainingData`` with survival_info.csv (only ``ages``' ids) and
    name_mapping.csv; subject ``odd_seg`` has its segmentation under another name."""
    rng = np.random.default_rng(seed)
    data = root / "MICCAI_BraTS2020_TrainingData"
    for n in numbers:
        seg = "W39_1998.09.19_Segm.nii" if n == odd_seg else "{sid}_seg.nii.gz"
        _brats_subject(data, f"BraTS20_Training_{n:03d}", rng, seg)
    lines = ["Brats20ID,Age,Survival_days,Extent_of_Resection"]
    lines += [f"BraTS20_Training_{n:03d},{age},300,GTR" for n, age in ages.items()]
    (data / "survival_info.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = ["Grade,BraTS_2017_subject_ID,BraTS_2018_subject_ID,BraTS_2020_subject_ID"]
    mapping += [f"{'HGG' if n % 2 else 'LGG'},x,y,BraTS20_Training_{n:03d}" for n in numbers]
    (data / "name_mapping.csv").write_text("\n".join(mapping) + "\n", encoding="utf-8")
    return data


def write_brats2019(
    root: Path,
    hgg: Sequence[str],
    lgg: Sequence[str],
    ages: dict[str, str],
    *,
    no_seg: Sequence[str] = (),
    seed: int = 2,
) -> Path:
    """``MICCAI_BraTS_2019_Data_Training/{HGG,LGG}/<id>/`` and survival_data.csv (BraTS19ID)."""
    rng = np.random.default_rng(seed)
    data = root / "MICCAI_BraTS_2019_Data_Training"
    for grade, ids in (("HGG", hgg), ("LGG", lgg)):
        for sid in ids:
            _brats_subject(data / grade, sid, rng, None if sid in no_seg else "{sid}_seg.nii.gz")
    lines = ["BraTS19ID,Age,Survival,ResectionStatus"]
    lines += [f"{sid},{age},400,GTR" for sid, age in ages.items()]
    (data / "survival_data.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data
