from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brainuad.errors import InputFileError
from brainuad.io import load_volume, save_volume
from uad_testing import blob_volume


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def _save_singular(path: Path) -> Path:
    img = nib.Nifti1Image(blob_volume(), None)
    img.header.set_sform(np.diag([1.0, 0.0, 1.0, 1.0]), code=2)
    img.header.set_qform(None, code=0)
    img.header["pixdim"][1:4] = [1.0, 0.0, 1.0]
    nib.save(img, str(path))
    return path


def test_load_returns_float32_ras(nifti_file: Path) -> None:
    vol = load_volume(nifti_file)
    assert vol.data.dtype == np.float32
    assert vol.shape == (16, 18, 14)
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")


def test_lps_oblique_affine_round_trip_keeps_world_positions(tmp_path: Path) -> None:
    data = blob_volume((12, 14, 10), seed=3)
    theta = np.deg2rad(12)
    rot = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([-1.0, -1.2, 0.9])  # LPS-ish, anisotropic, oblique
    affine[:3, 3] = [40.0, -20.0, 7.5]
    src = _save(tmp_path / "lps.nii.gz", data, affine)
    vol = load_volume(src)
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    # every voxel keeps its world coordinate: compare the brightest voxel's position
    i0 = np.unravel_index(np.argmax(data), data.shape)
    i1 = np.unravel_index(np.argmax(vol.data), vol.shape)
    w0 = affine @ np.array([*i0, 1.0])
    w1 = vol.affine @ np.array([*i1, 1.0])
    np.testing.assert_allclose(w0, w1, atol=1e-6)
    # save and reload: identical voxels and affine
    out = save_volume(tmp_path / "out" / "copy.nii.gz", vol.data, vol.affine)
    again = load_volume(out)
    np.testing.assert_array_equal(again.data, vol.data)
    np.testing.assert_allclose(again.affine, vol.affine, atol=1e-6)
    np.testing.assert_allclose(vol.spacing, (1.0, 1.2, 0.9), atol=1e-6)


def test_trailing_singleton_dimension_is_accepted(tmp_path: Path) -> None:
    path = _save(tmp_path / "t.nii", blob_volume()[..., None])
    assert load_volume(path).shape == (16, 18, 14)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    save_volume(tmp_path / "a.nii.gz", blob_volume(), np.eye(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz"]
    with pytest.raises(InputFileError, match="must end in .nii"):
        save_volume(tmp_path / "a.png", blob_volume(), np.eye(4))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p, "file not found"),
        (lambda p: (p.write_text("hello"), p)[1], "not a readable NIfTI"),
        (lambda p: _save(p, np.zeros((4, 5, 6), np.float32)), "all-constant"),
        (lambda p: _save(p, blob_volume()[:, :, 0]), "expected a 3D volume, found 2D"),
        (lambda p: _save(p, np.stack([blob_volume()] * 3, -1)), "4D series of 3 volumes"),
        (
            lambda p: _save(p, (blob_volume() + 1j * blob_volume()).astype(np.complex64)),
            "complex",
        ),
        (lambda p: _save(p, np.where(blob_volume() > 0.5, np.nan, 1.0)), "NaN/Inf"),
        (lambda p: _save_singular(p), "not invertible"),
    ],
    ids=["missing", "not-nifti", "constant", "2d", "4d", "complex", "nan", "affine"],
)
def test_rejections_name_the_file(tmp_path: Path, make, match: str) -> None:
    path = make(tmp_path / "bad.nii.gz")
    with pytest.raises(InputFileError, match=match) as info:
        load_volume(path)
    assert "bad.nii.gz" in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_gzip_is_rejected(nifti_file: Path, tmp_path: Path) -> None:
    raw = gzip.decompress(nifti_file.read_bytes())
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    with pytest.raises(InputFileError, match="cut.nii.gz: .*(truncated|corrupt)"):
        load_volume(cut)


def test_atomic_writes_get_normal_permissions(tmp_path: Path) -> None:
    import os
    import stat

    from brainuad.io.atomic import atomic_dir

    out = save_volume(tmp_path / "p.nii.gz", blob_volume(), np.eye(4))
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "x.txt").write_text("x")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask


@pytest.mark.parametrize(
    ("shape", "zooms", "message"),
    [
        ((30000, 30000, 30000), (1.0, 1.0, 1.0), r"implausible image size 30000x30000x30000"),
        ((8, 8, 8), (1000.0, 1000.0, 1000.0), r"implausible voxel size 1000 x 1000 x 1000 mm"),
        ((8, 8, 8), (1.0, 1.0, 0.001), r"implausible voxel size 1 x 1 x 0\.001 mm"),
    ],
)
def test_implausible_headers_are_refused_before_reading(tmp_path, shape, zooms, message) -> None:
    import io

    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.float32)
    hdr.set_data_shape(shape)
    hdr.set_zooms(zooms)
    hdr.set_sform(np.diag([*zooms, 1.0]), code=1)
    buf = io.BytesIO()
    hdr.write_to(buf)
    path = tmp_path / "absurd.nii"
    path.write_bytes(buf.getvalue() + b"\x00" * 100)  # no voxel data behind the header
    with pytest.raises(InputFileError, match=rf"absurd\.nii: {message}"):
        load_volume(path)
