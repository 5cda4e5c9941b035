"""Held-out evaluation for sequence → environment models: cross-validation grouped by
sample site, never by sequence.

Contigs of one sample (or one station) share their environment exactly, and neighbouring
contigs share composition, so a split by sequence puts the answer on both sides: latitude and
longitude alone then "predict" temperature with R² ≈ 0.99.  Every fold here holds out whole
groups (stations): no group is on both sides of any fold, and each group is tested exactly once.

>>> folds = group_folds(["a", "a", "b", "c", "c", "d"], n_folds=2, seed=0)
>>> sorted(test.tolist() for _, test in folds)  # a + b and c + d: 3 rows each
[[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from genolm.errors import GenolmError

ALPHAS = np.logspace(-3, 5, 17)


def group_folds(groups: Sequence, n_folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) per fold; whole groups are held out, folds balanced by rows
    (largest groups first, each to the fold with the fewest rows so far; ties by a seeded order)."""
    groups = np.asarray([str(g) for g in groups])
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if len(names) < n_folds:
        raise GenolmError("too few groups for the folds", expected=f"at least {n_folds} groups (stations)",
                          found=str(len(names)), hint="lower --folds, or add samples from more sites")
    rng = np.random.default_rng(seed)
    order = sorted(range(len(names)), key=lambda g: (-counts[g], rng.random()))
    fold_of, load = np.empty(len(names), int), np.zeros(n_folds, int)
    for g in order:
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += counts[g]
    row_fold = fold_of[inverse]
    return [(np.flatnonzero(row_fold != f), np.flatnonzero(row_fold == f)) for f in range(n_folds)]


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination against the *test* fold's own mean (so predicting the
    training mean scores a little below 0)."""
    if len(y) == 0 or np.ptp(y) == 0:  # one value (e.g. one held-out sample): R² is undefined
        return float("nan")
    ss = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / ss


def cv_regression(x: np.ndarray | None, y: np.ndarray, folds, model: str = "ridge", seed: int = 0) -> dict:
    """Per fold: ridge regression (standardised features, the penalty chosen by RidgeCV within the
    training side) or gradient boosting (``model="boosting"``); ``x=None`` predicts the training
    mean.  Returns ``r2`` over all out-of-fold predictions pooled, the per-fold R² and their
    standard deviation (the fold spread), and the out-of-fold predictions."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.full(len(y), np.nan)
    scores = []
    for train, test in folds:
        if x is None:
            pred[test] = y[train].mean()
        else:
            m = (make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)) if model == "ridge"
                 else HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=seed))
            pred[test] = m.fit(x[train], y[train]).predict(x[test])
        scores.append(r2(y[test], pred[test]))
    return {"r2": r2(y, pred), "r2_folds": scores, "r2_sd": float(np.nanstd(scores)), "pred": pred}


def cv_classification(x: np.ndarray | None, y: Sequence[str], folds) -> dict:
    """Logistic regression (standardised, class-balanced) per fold; ``x=None`` predicts the
    training majority.  Balanced accuracy per fold (mean recall over the classes in the fold)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y)
    pred = np.empty(len(y), dtype=y.dtype)
    scores = []
    for train, test in folds:
        if x is None or len(set(y[train])) < 2:
            values, counts = np.unique(y[train], return_counts=True)
            pred[test] = values[np.argmax(counts)]
        else:
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
            pred[test] = model.fit(x[train], y[train]).predict(x[test])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fold without some class: its recall is left out
            scores.append(float(balanced_accuracy_score(y[test], pred[test])))
    return {"bacc_folds": scores, "bacc": float(np.mean(scores)), "bacc_sd": float(np.std(scores)), "pred": pred}


def permutation_test(x: np.ndarray, y: np.ndarray, samples: Sequence[str], folds, n: int, seed: int = 0,
                     classification: bool = False) -> dict:
    """How often features unrelated to the conditions score as well: the samples' values are
    shuffled among the samples (the sequences of one sample keep one value, as in the data), the
    same folds are scored again ``n`` times, and p = (1 + shuffles scoring at least the observed
    score) / (1 + n)."""
    score = (lambda yy: cv_classification(x, yy, folds)["bacc"]) if classification else \
        (lambda yy: cv_regression(x, yy, folds)["r2"])
    observed = score(y)
    names, inverse = np.unique(np.asarray(samples), return_inverse=True)
    first = np.array([np.flatnonzero(inverse == k)[0] for k in range(len(names))])
    values = y[first]  # one value per sample
    rng = np.random.default_rng(seed)
    null = np.array([score(values[rng.permutation(len(names))][inverse]) for _ in range(n)])
    return {"observed": float(observed), "p_value": float((1 + (null >= observed).sum()) / (1 + n)),
            "null_mean": float(null.mean()) if n else float("nan"), "null_sd": float(null.std()) if n else float("nan"),
            "permutations": n}
