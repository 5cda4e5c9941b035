"""Building blocks of ``genolm evolve``: dated sequences, seasons, and the forecast metrics.

* Dates from record headers: ``MM/DD/YYYY``, ``MM/YYYY`` or ``YYYY`` (the H3N2 HA1 headers
  ``strain|accession|date|country|…``), or ISO ``YYYY-MM-DD`` / ``YYYY-MM``; anything else is one
  clear error naming the record.
* Time-respecting splits: :func:`before` keeps only what was sampled before the target season, and
  says what it dropped.
* Strain pick: among the candidates, (mean distance − distance of the pick) / (mean distance − the
  best possible distance), in amino acids to the target season's sequences: 0 = a random pick,
  1 = the best candidate.
* Mutation pick: each substitution relative to the last season's consensus, ranked; the truth is
  the substitutions that reach ``threshold`` (50%) frequency in the target season.  AUROC and
  precision@k.

>>> parse_date("03/15/1999", "r1"), parse_date("11/2004", "r2"), parse_date("1968", "r3")
(Date(year=1999, month=3, day=15), Date(year=2004, month=11, day=None), Date(year=1968, month=None, day=None))
>>> strain_pick_score(np.array([3.0, 1.0, 2.0]), 1), strain_pick_score(np.array([3.0, 1.0, 2.0]), 2)
(1.0, 0.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from genolm.bio.genome_stats import AMINO_ACIDS as AMINO  # the 20, alphabetical
from genolm.errors import GenolmError

_DATE = re.compile(r"^(?:(\d{1,2})/(?:(\d{1,2})/)?)?(\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


class Date(NamedTuple):
    year: int
    month: int | None
    day: int | None

    @property
    def decimal(self) -> float:
        """Year as a decimal (mid-month / mid-year where the day / month is unknown)."""
        if self.month is None:
            return self.year + 0.5
        return self.year + (self.month - 1 + ((self.day or 15) - 0.5) / 31) / 12


def parse_date(text: str, record: str | None = None) -> Date:
    """``MM/DD/YYYY``, ``MM/YYYY`` or ``YYYY`` (or ISO ``YYYY-MM-DD`` / ``YYYY-MM``, as in GISAID and
    Nextstrain metadata) -> :class:`Date` (checked: month 1–12, day 1–31)."""
    m, iso = _DATE.match(text.strip()), _ISO.match(text.strip())
    if m or iso:
        if m:
            first, second, year = m.groups()
            month, day = (int(first), int(second)) if second else ((int(first), None) if first else (None, None))
        else:
            year, month, day = iso.groups()
            month, day = int(month), (int(day) if day else None)
        if (month is None or 1 <= month <= 12) and (day is None or 1 <= day <= 31):
            return Date(int(year), month, day)
    raise GenolmError("unparseable date", record=record, found=repr(text),
                      expected="MM/DD/YYYY, MM/YYYY, YYYY, YYYY-MM-DD or YYYY-MM",
                      hint="or give the dates in a metadata table")


@dataclass
class Dated:
    ids: list[str]
    seqs: list[str]
    dates: list[Date]

    def years(self) -> np.ndarray:
        return np.array([d.year for d in self.dates])


def dated_records(path, field: int = 2, sep: str = "|") -> Dated:
    """Records of a FASTA whose header's ``field``-th ``sep``-separated part is the date."""
    from genolm.io.seqio import read_records

    ids, seqs, dates = [], [], []
    for r in read_records(path, case="upper", unique_ids=False):
        parts = r.id.split(sep)
        if len(parts) <= field:
            raise GenolmError("header has no date field", file=path, record=r.id,
                              expected=f"at least {field + 1} {sep!r}-separated fields")
        ids.append(r.id)
        seqs.append(r.seq)
        dates.append(parse_date(parts[field], r.id))
    return Dated(ids, seqs, dates)


def before(data: Dated, season: int) -> tuple[Dated, int]:
    """The records dated strictly before ``season`` (a calendar year), and how many were left out."""
    keep = [i for i, d in enumerate(data.dates) if d.year < season]
    return Dated([data.ids[i] for i in keep], [data.seqs[i] for i in keep], [data.dates[i] for i in keep]), \
        len(data.ids) - len(keep)


# ---- amino acids -------------------------------------------------------------------------------

def proteins(seqs: list[str], table: int = 1) -> np.ndarray:
    """(n, L) array of single-letter amino acids of aligned, in-frame nucleotide sequences."""
    from genolm.bio.codon import translate

    prot = [translate(s[: len(s) - len(s) % 3], table) for s in seqs]
    if len({len(p) for p in prot}) != 1:
        raise GenolmError("sequences are not aligned", expected="one length", found=str(sorted({len(s) for s in seqs})[:5]))
    return np.array([list(p) for p in prot])


def consensus(prot: np.ndarray) -> np.ndarray:
    """Most frequent amino acid per column (ambiguous X ignored where anything else is seen)."""
    out = []
    for col in prot.T:
        values, counts = np.unique(col[col != "X"] if (col != "X").any() else col, return_counts=True)
        out.append(values[np.argmax(counts)])
    return np.array(out)


def distances(a: np.ndarray, b: np.ndarray, wildcard: str = "X") -> np.ndarray:
    """(len(a), len(b)) Hamming distances of rows of letters, ``wildcard`` matching anything.

    >>> distances(np.array([list("AKX"), list("AKD")]), np.array([list("ARD")]))[:, 0].tolist()
    [1.0, 1.0]
    """
    letters = sorted((set(np.unique(a).tolist()) | set(np.unique(b).tolist())) - {wildcard})

    def onehot(p):  # (n, L * letters): matches are a dot product
        return (p[:, :, None] == np.array(letters)[None, None]).reshape(len(p), -1).astype(np.float32)

    known = (a != wildcard).astype(np.float32) @ (b != wildcard).astype(np.float32).T
    return (known - onehot(a) @ onehot(b).T).astype(np.float64)


def lbi(dist: np.ndarray, tau: float | None = None) -> np.ndarray:
    """Local branching index (Neher, Russell & Shraiman 2014, eLife 3:e03568) of each leaf of the
    UPGMA tree of pairwise distances ``dist``: the tree length around the leaf, discounted by
    exp(-distance / ``tau``).  ``tau`` defaults to 1/16 of the mean pairwise distance (the paper's
    0.0625 of the diversity).  A leaf in a dense, fast-branching clade scores high.

    >>> d = np.array([[0, 1, 1, 4], [1, 0, 1, 4], [1, 1, 0, 4], [4, 4, 4, 0]], float)
    >>> lbi(d, tau=1.0).round(3).tolist()  # three close leaves beat the lone one
    [1.459, 1.459, 1.459, 1.005]
    """
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    n = len(dist)
    off = dist[~np.eye(n, dtype=bool)]
    tau = tau if tau is not None else (0.0625 * float(off.mean()) if n > 1 else 0.0)
    if n < 2 or tau <= 0:
        return np.zeros(n)
    z = linkage(squareform(np.asarray(dist, float), checks=False), "average")
    height = np.r_[np.zeros(n), z[:, 2] / 2]  # an ultrametric tree: the root-to-leaf depth is half the distance
    children = z[:, :2].astype(int)
    total = 2 * n - 1
    parent = np.full(total, -1)
    for k, (a, b) in enumerate(children):
        parent[a] = parent[b] = n + k
    length = np.where(parent >= 0, height[np.maximum(parent, 0)] - height, 0.0)
    keep = np.exp(-np.maximum(length, 0.0) / tau)
    up = np.zeros(total)  # what node i passes to its parent: its branch and everything below it
    for i in range(total - 1):  # children come before their parents
        below = up[children[i - n]].sum() if i >= n else 0.0
        up[i] = tau * (1 - keep[i]) + keep[i] * below
    down = np.zeros(total)  # what node i receives from above: its branch and the rest of the tree
    for p in range(total - 1, n - 1, -1):
        a, b = children[p - n]
        for c, sib in ((a, b), (b, a)):
            down[c] = tau * (1 - keep[c]) + keep[c] * (down[p] + up[sib])
    return down[:n]


def nt_distances(seqs: list[str]) -> np.ndarray:
    """Pairwise nucleotide Hamming distances of aligned sequences, anything but A/C/G/T a wildcard."""
    nt = np.array([list(s) for s in seqs])
    return distances(np.where(np.isin(nt, list("ACGT")), nt, "X"), np.where(np.isin(nt, list("ACGT")), nt, "X"))


def strain_pick_score(mean_distance: np.ndarray, pick: int) -> float:
    """(mean − pick) / (mean − best) of the candidates' mean distances to the target season."""
    mean, best = float(mean_distance.mean()), float(mean_distance.min())
    return (mean - float(mean_distance[pick])) / (mean - best) if mean > best else float("nan")


def frequencies(prot: np.ndarray) -> dict[tuple[int, str], float]:
    """Frequency of each (position, amino acid) among the rows."""
    out = {}
    for j, col in enumerate(prot.T):
        values, counts = np.unique(col, return_counts=True)
        for v, c in zip(values, counts):
            out[(j, str(v))] = c / len(col)
    return out


def sweeps(last_consensus: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> set[tuple[int, str]]:
    """(position, amino acid) differing from the last season's consensus that reach ``threshold``
    frequency in the target season."""
    freq = frequencies(target)
    return {(j, aa) for (j, aa), f in freq.items() if f >= threshold and aa != last_consensus[j] and aa != "X"}


def auroc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve (ties: half), NaN with one class only."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, scores)) if 0 < truth.sum() < len(truth) else float("nan")


def precision_at(scores: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Share of true sweeps among the k highest scores (stable order on ties)."""
    top = np.argsort(-scores, kind="stable")[:k]
    return float(truth[top].mean()) if len(top) else float("nan")


# ---- the baselines of one season ---------------------------------------------------------------


def baselines(data: Dated, prot: np.ndarray, last: int, months: int = 3) -> dict:
    """The forecasts that use no model, from the seasons up to ``last`` only.

    Candidates are the sequences of season ``last``.  Strain picks: the candidate closest to that
    season's consensus; the candidate closest to the amino-acid profile of its last ``months``
    months (the whole season if none is dated that precisely); the candidate with the highest
    local branching index on the UPGMA tree of the candidates' nucleotides.  Mutation scores, for
    every amino-acid substitution away from the last season's consensus: its frequency in the last
    season, and its rise over the season before.
    """
    years = data.years()
    cand_idx, prev_idx = np.flatnonzero(years == last), np.flatnonzero(years == last - 1)
    if len(cand_idx) == 0:
        raise GenolmError(f"no sequence is dated in the last observed season {last}",
                          hint="choose a season with sequences, or check the dates")
    cand = prot[cand_idx]
    cons = consensus(cand)
    late = [i for i in cand_idx if data.dates[i].month is not None and data.dates[i].month > 12 - months]
    freq = frequencies(prot[late] if late else cand)
    closeness = np.array([sum(freq.get((j, a), 0.0) for j, a in enumerate(row)) for row in cand])
    branching = lbi(nt_distances([data.seqs[i] for i in cand_idx]))
    picks = {"consensus": int(np.argmin(distances(cand, cons[None])[:, 0])),
             f"last {months} months profile": int(np.argmax(closeness)),
             "LBI": int(np.argmax(branching))}
    muts = [(j, a) for j in range(len(cons)) for a in AMINO if a != cons[j]]
    f_last = frequencies(cand)
    f_prev = frequencies(prot[prev_idx]) if len(prev_idx) else {}
    scores = {"last-season frequency": np.array([f_last.get(m, 0.0) for m in muts]),
              "rise": np.array([f_last.get(m, 0.0) - f_prev.get(m, 0.0) for m in muts])}
    return {"last": last, "candidates": cand_idx, "consensus": cons, "picks": picks, "mutations": muts,
            "scores": scores, "lbi": branching, "profile_closeness": closeness}


def evaluate(prot: np.ndarray, target_idx: np.ndarray, base: dict, picks: dict[str, int],
             scores: dict[str, np.ndarray]) -> dict:
    """Strain-pick scores of ``picks`` (candidate indices) and AUROC / precision@10 of the mutation
    ``scores`` (aligned with ``base["mutations"]``) against the target season's sequences."""
    if len(target_idx) == 0:
        raise GenolmError("the target season has no sequences to evaluate against")
    cand, tgt = prot[base["candidates"]], prot[target_idx]
    to_target = distances(cand, tgt).mean(1)
    truth = np.array([m in sweeps(base["consensus"], tgt) for m in base["mutations"]])
    unseen = truth & (base["scores"]["last-season frequency"] == 0)
    return {"targets": len(target_idx), "strain_pick": {name: strain_pick_score(to_target, i) for name, i in picks.items()},
            "mutation_pick": {name: {"auroc": auroc(v, truth), "precision@10": precision_at(v, truth, 10)}
                              for name, v in scores.items()},
            "sweeps": int(truth.sum()), "sweeps_unseen_last_season": int(unseen.sum()),
            "precision@10_ceiling": min(int(truth.sum()), 10) / 10, "truth": truth, "unseen": unseen,
            "to_target": to_target}


def candidate_scores(data: Dated, season: int, prot: np.ndarray | None = None, months: int = 3) -> dict:
    """The baselines of ``season`` (candidates from ``season - 1``) and their scores on it."""
    prot = proteins(data.seqs) if prot is None else prot
    target = np.flatnonzero(data.years() == season)
    if len(target) == 0 or not (data.years() == season - 1).any():
        raise GenolmError(f"season {season} needs sequences in {season - 1} and {season}",
                          found=f"{int((data.years() == season - 1).sum())} and {len(target)}")
    base = baselines(data, prot, season - 1, months)
    r = evaluate(prot, target, base, base["picks"], base["scores"])
    return {"season": season, "candidates": len(base["candidates"]), **r, "mutations": base["mutations"],
            "candidate_ids": [data.ids[i] for i in base["candidates"]]}
