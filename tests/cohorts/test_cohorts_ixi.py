"""``brainuad cohort ixi``: fake IXI T1 folder + IXI.xls (real .xls and CSV export)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from cohort_fakes import write_ixi, write_ixi_csv, write_ixi_xls

from brainuad.cli.main import main
from brainuad.cohorts import build_ixi, report_path, write_build
from brainuad.cohorts.ixi import ixi_id
from brainuad.errors import ConfigError, InputFileError
from brainuad.io.manifest import read_manifest

SCANS = [
    (2, "Guys"),
    (12, "HH"),
    (13, "HH"),
    (14, "IOP"),
    (15, "Guys"),  # no age in the spreadsheet
    (16, "IOP"),  # two rows whose ages disagree
    (17, "Guys"),  # two rows whose ages agree
    (18, "HH"),  # not in the spreadsheet
    (19, "IOP"),  # two rows, only one with an age
]
ROWS = [
    (2, 35.80013689),
    (12, 38.78),
    (13, 46.71),
    (14, 20.17),
    (15, ""),
    (16, 58.2),
    (16, 61.9),
    (17, 70.41),
    (17, 70.41),
    (19, ""),
    (19, 86.32),
    (99, 44.0),  # a row without an image
    ("", 30.0),  # a row without an id
]
KEPT = {"IXI002": 35.80013689, "IXI012": 38.78, "IXI013": 46.71, "IXI014": 20.17}
KEPT |= {"IXI017": 70.41, "IXI019": 86.32}


@pytest.fixture(scope="module")
def ixi_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ixi(tmp_path_factory.mktemp("ixi") / "IXI-T1", SCANS)


def _report(path: Path) -> dict[str, tuple[str, str]]:
    with open(report_path(path), newline="", encoding="utf-8") as f:
        return {r["subject_id"]: (r["action"], r["reason"]) for r in csv.DictReader(f)}


@pytest.mark.parametrize("kind", ["csv", "xls"])
def test_manifest_and_exclusions(ixi_folder: Path, tmp_path: Path, kind: str) -> None:
    writer = write_ixi_csv if kind == "csv" else write_ixi_xls
    sheet = writer(tmp_path / f"IXI.{kind}", ROWS)
    build = build_ixi(ixi_folder, sheet)
    manifest, report = write_build(build, tmp_path / "out" / "ixi.csv")
    cohort = read_manifest(manifest)
    assert {s.subject_id: s.age for s in cohort} == pytest.approx(KEPT, abs=1e-4)
    assert all(s.label == 0 and s.extra["dataset"] == "IXI" for s in cohort)
    assert {s.subject_id: s.extra["site"] for s in cohort}["IXI012"] == "HH"
    assert all(s.image.name.endswith("-T1.nii.gz") and s.image.is_file() for s in cohort)

    entries = _report(manifest)
    assert report == tmp_path / "out" / "ixi_exclusions.csv"
    assert entries["IXI015"][0] == "excluded" and "no age" in entries["IXI015"][1]
    assert entries["IXI016"][0] == "excluded"
    assert "inconsistent ages" in entries["IXI016"][1] and "58.20" in entries["IXI016"][1]
    assert "61.90" in entries["IXI016"][1]
    assert entries["IXI018"] == ("excluded", f"not listed in IXI.{kind}")
    assert entries["IXI017"][0] == "kept" and "ages agree" in entries["IXI017"][1]
    assert entries["IXI019"][0] == "kept" and "one age given" in entries["IXI019"][1]
    assert set(entries) == {"IXI015", "IXI016", "IXI017", "IXI018", "IXI019"}

    text = build.summary(manifest, report)
    assert "6 IXI subjects, ages 20.2-86.3 y" in text
    assert "site: Guys 2, HH 2, IOP 2" in text
    assert "excluded 3 (" in text and "inconsistent ages: 1" in text and "no age: 1" in text
    assert "1 id(s) of" in text and "(e.g. IXI099)" in text
    assert "1 row(s) of" in text and "no readable IXI_ID" in text


def test_ids_are_read_in_any_spelling() -> None:
    assert [ixi_id(v) for v in ("2", "2.0", "002", "IXI002", "ixi2")] == ["IXI002"] * 5
    assert ixi_id("") is None and ixi_id("2.5") is None and ixi_id("abc") is None


def test_several_t1_files_for_one_id_are_excluded(ixi_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "t1"
    folder.mkdir()
    for src in ixi_folder.glob("IXI002*T1*"):
        (folder / src.name).write_bytes(src.read_bytes())
        (folder / "copy").mkdir()
        (folder / "copy" / src.name.replace("0828", "0999")).write_bytes(src.read_bytes())
    (folder / "IXI012-HH-1012-T1.nii.gz").write_bytes(next(ixi_folder.glob("IXI012*")).read_bytes())
    build = build_ixi(folder, write_ixi_csv(tmp_path / "IXI.csv", [(2, 40.0), (12, 41.0)]))
    assert [s.subject_id for s in build.subjects] == ["IXI012"]
    assert (
        build.excluded[0].subject_id == "IXI002" and "several T1 files" in build.excluded[0].reason
    )


def test_errors(ixi_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_ixi_csv(tmp_path / "IXI.csv", ROWS)
    with pytest.raises(InputFileError, match="IXI T1 folder not found"):
        build_ixi(tmp_path / "missing", good)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"no IXI T1 files found \(expected names like"):
        build_ixi(tmp_path / "empty", good)
    no_age = tmp_path / "noage.csv"
    no_age.write_text("IXI_ID,SEX_ID\n2,1\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"noage.csv: expected a column for the age \(AGE\)"):
        build_ixi(ixi_folder, no_age)
    (tmp_path / "IXI.xlsx").write_bytes(b"PK")
    with pytest.raises(InputFileError, match=r"IXI.xlsx: expected .xls, .csv or .tsv"):
        build_ixi(ixi_folder, tmp_path / "IXI.xlsx")
    bad_xls = tmp_path / "broken.xls"
    bad_xls.write_bytes(b"not a workbook")
    with pytest.raises(InputFileError, match=r"broken.xls: not a readable .xls workbook"):
        build_ixi(ixi_folder, bad_xls)
    monkeypatch.setitem(sys.modules, "xlrd", None)  # as if xlrd were not installed
    with pytest.raises(ConfigError, match=r"broken.xls: reading .xls needs the xlrd package"):
        build_ixi(ixi_folder, bad_xls)


def test_nothing_usable_writes_only_the_report(ixi_folder: Path, tmp_path: Path) -> None:
    sheet = write_ixi_csv(tmp_path / "IXI.csv", [(2, ""), (12, "unknown"), (13, 150)])
    build = build_ixi(ixi_folder, sheet)
    out = tmp_path / "ixi.csv"
    with pytest.raises(InputFileError, match=r"ixi.csv: no IXI subject has both a T1 image"):
        write_build(build, out)
    assert not out.exists()
    entries = _report(out)
    assert "age out of range 0-120 years (150)" in entries["IXI013"][1]
    assert len(entries) == len(SCANS)


def test_cli(ixi_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sheet = write_ixi_csv(tmp_path / "IXI.csv", ROWS)
    out = tmp_path / "ixi.csv"
    assert main(["cohort", "ixi", str(ixi_folder), "-d", str(sheet), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: 6 IXI subjects" in printed and "ixi_exclusions.csv" in printed
    assert len(read_manifest(out)) == 6
    assert main(["cohort", "ixi", str(ixi_folder), "-d", str(sheet), "-o", "ixi.txt"]) == 2
    assert "error: --out must name a .csv manifest, found ixi.txt" in capsys.readouterr().err
