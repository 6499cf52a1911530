from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from brainuad.errors import ConfigError, InputFileError
from brainuad.io.manifest import Cohort, Subject
from brainuad.splits import (
    SplitSpec,
    allocate,
    assign_splits,
    parse_sizes,
    read_splits,
    write_splits,
)


def _cohort(n_normal: int, n_anom: int, seed: int = 0) -> Cohort:
    rng = np.random.default_rng(seed)
    ages_n = np.clip(rng.normal(45, 17, n_normal), 18, 90)
    ages_a = np.clip(rng.normal(60, 13, n_anom), 18, 90)
    subjects = [
        Subject(f"n{i}", Path(f"n{i}.nii.gz"), float(a), 0) for i, a in enumerate(ages_n)
    ] + [Subject(f"a{i}", Path(f"a{i}.nii.gz"), float(a), 1) for i, a in enumerate(ages_a)]
    return Cohort(tuple(subjects), Path("synthetic.csv"))


def test_every_subject_in_exactly_one_split_and_anomalous_never_in_train() -> None:
    cohort = _cohort(347, 48)
    splits = assign_splits(cohort, SplitSpec(seed=1))
    assert set(splits) == set(cohort.ids)
    assert all(splits[s.subject_id] != "train" for s in cohort if s.label == 1)
    counts = {k: sum(v == k for v in splits.values()) for k in ("train", "val", "test")}
    # paper proportions 1255/80/400 scaled to 347 healthy, 40/200 to 48 anomalous
    assert counts["train"] == allocate(347, (1255, 80, 400))[0]
    assert counts["val"] == allocate(347, (1255, 80, 400))[1] + allocate(48, (40, 200))[0]


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    cohort = _cohort(200, 20)
    a = assign_splits(cohort, SplitSpec(seed=5))
    b = assign_splits(cohort, SplitSpec(seed=5))
    c = assign_splits(cohort, SplitSpec(seed=6))
    assert a == b
    assert a != c


def test_healthy_splits_follow_the_age_distribution() -> None:
    cohort = _cohort(600, 0, seed=2)
    splits = assign_splits(cohort, SplitSpec(healthy=(0.6, 0.2, 0.2), seed=3))
    ages = np.array([s.age for s in cohort])
    for name in ("train", "val", "test"):
        part = np.array([s.age for s in cohort if splits[s.subject_id] == name])
        assert ks_2samp(part, ages).pvalue > 0.5, name
        assert abs(part.mean() - ages.mean()) < 1.5


def test_stratification_beats_random_splitting() -> None:
    # a stratified split's age gap between train and test is far below a random split's
    gaps_strat, gaps_rand = [], []
    for seed in range(20):
        cohort = _cohort(120, 0, seed=seed)
        splits = assign_splits(cohort, SplitSpec(healthy=(0.5, 0.0, 0.5), seed=seed))
        ages = np.array([s.age for s in cohort])
        is_train = np.array([splits[s.subject_id] == "train" for s in cohort])
        gaps_strat.append(abs(ages[is_train].mean() - ages[~is_train].mean()))
        perm = np.random.default_rng(seed).permutation(len(ages))
        gaps_rand.append(abs(ages[perm[:60]].mean() - ages[perm[60:]].mean()))
    assert np.mean(gaps_strat) < 0.3 * np.mean(gaps_rand)


def test_allocate_counts_and_proportions() -> None:
    assert allocate(10, (5, 3, 2)) == [5, 3, 2]
    assert sum(allocate(17, (1255, 80, 400))) == 17
    assert allocate(17, (1255, 80, 400), min_each=1)[1] >= 1


def test_parse_sizes_errors() -> None:
    assert parse_sizes("0.7,0.1,0.2", 3, "--healthy") == (0.7, 0.1, 0.2)
    with pytest.raises(ConfigError, match="--healthy: expected 3 non-negative comma-separated"):
        parse_sizes("1,2", 3, "--healthy")
    with pytest.raises(ConfigError, match="expected 2 comma-separated numbers, found 'a,b'"):
        parse_sizes("a,b", 2, "--anomalous")


def test_missing_age_is_an_error() -> None:
    cohort = Cohort((Subject("x", Path("x.nii"), None, 0),), Path("m.csv"))
    with pytest.raises(ConfigError, match="m.csv: age is required.*x"):
        assign_splits(cohort)


def test_splits_file_round_trip(tmp_path: Path) -> None:
    cohort = _cohort(30, 6)
    splits = assign_splits(cohort)
    path = write_splits(tmp_path / "splits.csv", cohort, splits)
    assert read_splits(path) == splits
    bad = tmp_path / "bad.csv"
    bad.write_text("subject_id,split\nx,holdout\n")
    with pytest.raises(InputFileError, match="bad.csv: row 2: split must be"):
        read_splits(bad)


@pytest.mark.parametrize("text", ["nan,0.5,0.5", "inf,1,1", "0.5,0.5", "a,b,c", "0,0,0", "-1,1,1"])
def test_parse_sizes_refuses_non_finite_and_bad(text: str) -> None:
    from brainuad.errors import ConfigError
    from brainuad.splits import parse_sizes

    with pytest.raises(ConfigError, match=r"--healthy: expected 3"):
        parse_sizes(text, 3, "--healthy")


def test_read_splits_hostile(tmp_path) -> None:
    from brainuad.errors import InputFileError
    from brainuad.splits import read_splits

    path = tmp_path / "s.csv"
    path.write_text("subject_id,split\na,train\nb,val,oops\n")
    with pytest.raises(InputFileError, match=r"s\.csv: row 3: expected 2 fields"):
        read_splits(path)
    path.write_text("subject_id,split\na,train\na,val\n")
    with pytest.raises(InputFileError, match=r"row 3: subject a is listed twice"):
        read_splits(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(InputFileError, match=r"s\.csv: expected a splits CSV file"):
        read_splits(path)
