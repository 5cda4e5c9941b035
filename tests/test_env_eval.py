"""Held-out-by-station evaluation: folds never leak a group, scores are right on known
cases, and a per-station signal that would 'predict' the target under a split by row scores
nothing under the split by station."""

import numpy as np
import pytest

from genolm.errors import GenolmError
from genolm.environment.evaluation import cv_classification, cv_regression, group_folds, r2


def stations(n_groups=20, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 60, n_groups)
    return np.repeat([f"st{g}" for g in range(n_groups)], sizes)


@pytest.mark.parametrize("n_folds", [2, 5, 7])
def test_folds_hold_out_whole_groups_each_tested_once(n_folds):
    groups = stations()
    folds = group_folds(groups, n_folds, seed=3)
    assert len(folds) == n_folds
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(groups)))  # every row tested exactly once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])  # no group on both sides
        assert len(train) + len(test) == len(groups)
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= np.bincount(np.unique(groups, return_inverse=True)[1]).max()
    assert [t.tolist() for _, t in group_folds(groups, n_folds, seed=3)] == [t.tolist() for _, t in folds]


def test_too_few_groups_is_a_clear_error():
    with pytest.raises(GenolmError, match="too few groups for the folds"):
        group_folds(["a", "a", "b"], 5)


def test_scores_on_known_cases():
    rng = np.random.default_rng(1)
    groups = stations(30)
    y = rng.normal(size=len(groups))
    folds = group_folds(groups, 5)
    # The training mean explains nothing, and less than nothing on other stations (the mean of all
    # rows, which would leak the test side, scores exactly 0 pooled).
    assert cv_regression(None, y, folds)["r2"] < 0
    assert cv_regression(np.c_[y, rng.normal(size=len(y))], y, folds)["r2"] > 0.99  # y itself
    assert r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 1.0
    labels = np.where(y > 0, "SUR", "DCM")
    assert cv_classification(None, labels, folds)["bacc"] == pytest.approx(0.5)
    assert cv_classification(y[:, None], labels, folds)["bacc"] > 0.95


def test_a_per_station_signal_leaks_under_a_row_split_and_not_under_the_station_split():
    """The target is a random value per station; the feature is a random code per station (like
    a sample's latitude, or its contigs' shared batch).  Split by row, the model memorises the
    code and 'predicts' the target; split by station it cannot."""
    rng = np.random.default_rng(2)
    groups = stations(40)
    names, inv = np.unique(groups, return_inverse=True)
    y = rng.normal(size=len(names))[inv] + 0.05 * rng.normal(size=len(groups))
    code = rng.normal(size=len(names))[inv][:, None]
    by_station = cv_regression(code, y, group_folds(groups, 5), model="boosting")
    rows = rng.permutation(len(groups))
    by_row = cv_regression(code, y, [(np.setdiff1d(rows, part), part) for part in np.array_split(rows, 5)],
                           model="boosting")
    assert by_row["r2"] > 0.9 and by_station["r2"] < 0.1, (by_row["r2"], by_station["r2"])


def test_permutation_test_separates_a_real_signal_from_none():
    from genolm.environment.evaluation import permutation_test

    rng = np.random.default_rng(4)
    groups = stations(16)
    names, inv = np.unique(groups, return_inverse=True)
    value = rng.normal(size=len(names))
    y = value[inv]
    folds = group_folds(groups, 4)
    signal = (y + 0.3 * rng.normal(size=len(y)))[:, None]  # features that carry the sample's value
    noise = rng.normal(size=(len(y), 3))                    # features that carry nothing
    hit = permutation_test(signal, y, groups, folds, n=19)
    miss = permutation_test(noise, y, groups, folds, n=19)
    assert hit["p_value"] == pytest.approx(1 / 20) and hit["observed"] > hit["null_mean"] + 3 * hit["null_sd"]
    assert miss["p_value"] > 0.1 and miss["permutations"] == 19
    labels = np.where(y > 0, "warm", "cold")
    assert permutation_test(signal, labels, groups, folds, n=9, classification=True)["p_value"] == pytest.approx(0.1)
