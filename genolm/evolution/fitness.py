"""A fitness model of the next season, after Łuksza & Lässig (2014, Nature) and Huddleston et al.
(2020, eLife): the population at the end of the last season, each strain grown by exp(its
fitness), is the forecast of the next one.

* **Now**: the candidates (the last season's sequences); the population now is those of its last
  ``months`` months (the whole season when none is dated that precisely), as in the
  last-months-profile baseline, which this model is with every weight 0.
* **Terms** of each candidate, each standardised within the season (and held within ±3):
  ``growth`` — how much more common its clade (sequences at most one amino acid away) is in the
  last season than in the one before, log((f_now + 0.01) / (f_before + 0.01));
  ``constraint`` — the sum, over its differences from the season's consensus, of the mutation
  effects genolm's combined score gives (genolm.evolution.dms: the family up to that season and
  BLOSUM62; a low sum: changes the protein tolerates badly);
  ``epitope`` — its mean distance at the epitope sites to the sequences of the three seasons
  before (novelty to the immunity they left), when epitope sites are given;
  ``lbi`` — its local branching index in the season's tree (Neher, Russell & Shraiman 2014:
  a strain in a dense, fast-branching clade; genolm.evolution.baselines.lbi).
* **Weights** fit only on seasons already seen: each past season's forecast of the one after it
  (both at or before the last observed season) scored by the mean amino-acid distance of the
  predicted population to what circulated; the grid point with the smallest mean wins.
* **Forecasts**: the strain pick is the candidate closest to the predicted population (the
  smallest expected amino-acid distance); the predicted frequency of a substitution is the
  predicted population's share carrying it.

Everything here reads only the records it is given: ``genolm evolve`` hands it the sequences dated
up to --until (tests/test_fitness.py plants later ones to check).

>>> np.round(population(np.array([1.0, 1.0, 0.0]), {"growth": np.array([1.0, -1.0, 5.0])}, {"growth": 1.0}), 3).tolist()
[0.69, 0.31, 0.0]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from genolm.errors import GenolmError

TERMS = ("growth", "constraint", "epitope", "lbi")
GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)
CLADE_RADIUS = 1  # amino acids: a candidate's clade
HISTORY = 6  # past seasons the weights are fit on
# Seven HA1 sites (H3 numbering) where single substitutions caused the major antigenic changes of
# H3N2 from 1968 to 2003 (Koel et al. 2013, Science 342:976).
KOEL_H3_SITES = (145, 155, 156, 158, 159, 189, 193)


@dataclass
class Season:
    """The candidates of one season and their fitness terms (all from that season and before)."""

    season: int  # the candidates' (last observed) season
    candidates: np.ndarray  # indices into the data
    now: np.ndarray  # the population now: weights over the candidates, summing to 1
    terms: dict[str, np.ndarray]


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return np.clip((x - x.mean()) / sd, -3, 3) if sd > 0 else np.zeros_like(x)


def population(now: np.ndarray, terms: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """now_i · exp(Σ weight · z(term_i)), normalised: the predicted population."""
    f = sum(w * _z(np.asarray(terms[k], float)) for k, w in weights.items() if w and k in terms)
    f = np.zeros(len(now)) if np.isscalar(f) else f
    w = np.asarray(now, float) * np.exp(f - np.max(f))
    return w / w.sum()


def season_terms(data, prot: np.ndarray, last: int, months: int = 3, epitope: list[int] | None = None,
                 constraint=None) -> Season:
    """The candidates of season ``last``, the population now and their terms.  ``epitope``:
    0-based protein positions; ``constraint(consensus, family) -> (L, 20) effects`` (optional)."""
    from genolm.evolution.baselines import consensus, distances, lbi, nt_distances

    years = data.years()
    cand = np.flatnonzero(years == last)
    if len(cand) == 0:
        raise GenolmError(f"no sequence is dated in season {last}")
    C = prot[cand]
    late = np.array([data.dates[i].month is not None and data.dates[i].month > 12 - months for i in cand])
    now = late.astype(float) if late.any() else np.ones(len(cand))
    before = np.flatnonzero(years == last - 1)
    f_now = (distances(C, C) <= CLADE_RADIUS).mean(1)
    f_before = (distances(C, prot[before]) <= CLADE_RADIUS).mean(1) if len(before) else np.zeros(len(cand))
    terms = {"growth": np.log((f_now + 0.01) / (f_before + 0.01))}
    if constraint is not None:
        cons = consensus(C)
        effects = constraint("".join(cons), prot[years <= last])
        index = {a: i for i, a in enumerate("ACDEFGHIKLMNPQRSTVWY")}
        terms["constraint"] = np.array([sum(effects[j, index[a]] for j, a in enumerate(row)
                                            if a != cons[j] and a in index) for row in C])
    if epitope:
        past = np.flatnonzero((years >= last - 3) & (years <= last - 1))
        ep = np.asarray(epitope)
        terms["epitope"] = distances(C[:, ep], prot[past][:, ep]).mean(1) if len(past) else np.zeros(len(cand))
    terms["lbi"] = lbi(nt_distances([data.seqs[i] for i in cand]))
    return Season(last, cand, now / now.sum(), terms)


def mean_distance(prot: np.ndarray, season: Season, p: np.ndarray, target: np.ndarray) -> float:
    """Σ p_i · (mean amino-acid distance of candidate i to the target season's sequences)."""
    from genolm.evolution.baselines import distances

    return float(p @ distances(prot[season.candidates], prot[target]).mean(1))


def fit_weights(history: list[tuple[Season, float]], prot: np.ndarray, targets: dict[int, np.ndarray],
                grid=GRID) -> tuple[dict[str, float], float]:
    """The grid point of weights whose predicted populations were closest, on average, to the
    seasons that followed (``targets[season + 1]``: indices of that season's sequences)."""
    from genolm.evolution.baselines import distances

    if not history:
        return {}, float("nan")
    names = sorted(set.intersection(*(set(s.terms) for s in history)), key=TERMS.index)
    to_next = [distances(prot[s.candidates], prot[targets[s.season + 1]]).mean(1) for s in history]
    best, best_loss = None, np.inf
    for point in itertools.product(grid, repeat=len(names)):
        weights = dict(zip(names, point))
        loss = float(np.mean([population(s.now, s.terms, weights) @ d for s, d in zip(history, to_next)]))
        if loss < best_loss - 1e-12 or (abs(loss - best_loss) <= 1e-12 and sum(map(abs, point)) < sum(map(abs, best.values()))):
            best, best_loss = weights, loss
    return best, best_loss


def forecast(data, prot: np.ndarray, until: int, months: int = 3, epitope: list[int] | None = None,
             constraint=None, history: int = HISTORY, cache: dict | None = None, use=TERMS) -> dict:
    """Fit the weights on the seasons up to ``until`` and forecast the season after it.  ``data``
    must hold nothing dated after ``until`` (checked)."""
    years = data.years()
    if len(years) and years.max() > until:
        raise GenolmError("the fitness model was handed a sequence dated after --until",
                          found=str(int(years.max())), expected=f"at most {until}")
    cache = {} if cache is None else cache

    def terms(season: int) -> Season:
        """A season's terms read only that season and earlier ones, so a later forecast of the same
        backtest reuses them (the records of that season, in the same order, checked by id)."""
        cand = np.flatnonzero(years == season)
        key = (season, months, tuple(epitope or ()), constraint is not None)
        ids = tuple(data.ids[i] for i in cand)
        if key not in cache or cache[key][0] != ids:
            s = season_terms(data, prot, season, months, epitope, constraint)
            cache[key] = (ids, s.now, s.terms)
        _, now, t = cache[key]
        return Season(season, cand, now, {k: v for k, v in t.items() if k in use})

    past = [s for s in range(until - history, until) if (years == s).any() and (years == s + 1).any()]
    fitted = [terms(s) for s in past]
    weights, loss = fit_weights(fitted, prot, {s + 1: np.flatnonzero(years == s + 1) for s in past})
    now = terms(until)
    p = population(now.now, now.terms, weights)
    from genolm.evolution.baselines import distances

    C = prot[now.candidates]
    pick = int(np.argmin(distances(C, C) @ p))
    return {"weights": weights, "fit_seasons": past, "fit_mean_distance": loss, "season": now, "population": p,
            "pick": pick}


def predicted_frequency(prot: np.ndarray, season: Season, p: np.ndarray, mutations: list[tuple[int, str]]) -> np.ndarray:
    """The predicted population's share carrying each (0-based position, amino acid)."""
    C = prot[season.candidates]
    return np.array([float(p[C[:, j] == a].sum()) for j, a in mutations])
