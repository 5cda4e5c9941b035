"""Building blocks of ``genolm evolve``: dated sequences, seasons, and the forecast metrics.

* Dates from record headers: ``MM/DD/YYYY``, ``MM/YYYY`` or ``YYYY`` (the H3N2 HA1 headers
  ``strain|accession|date|country|…``); anything else is one clear error naming the record.
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

from genolm.errors import GenolmError

_DATE = re.compile(r"^(?:(\d{1,2})/(?:(\d{1,2})/)?)?(\d{4})$")


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
    """``MM/DD/YYYY``, ``MM/YYYY`` or ``YYYY`` -> :class:`Date` (checked: month 1–12, day 1–31)."""
    m = _DATE.match(text.strip())
    if m:
        first, second, year = m.groups()
        month, day = (int(first), int(second)) if second else ((int(first), None) if first else (None, None))
        if (month is None or 1 <= month <= 12) and (day is None or 1 <= day <= 31):
            return Date(int(year), month, day)
    raise GenolmError("unparseable date", record=record, found=repr(text),
                      expected="MM/DD/YYYY, MM/YYYY or YYYY", hint="or give the dates in a metadata table")


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


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) amino-acid Hamming distances, X matching anything."""
    out = np.zeros((len(a), len(b)))
    for i, row in enumerate(a):
        out[i] = ((row[None] != b) & (row[None] != "X") & (b != "X")).sum(1)
    return out


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

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def candidate_scores(data: Dated, season: int, prot: np.ndarray | None = None, months: int = 3) -> dict:
    """The forecast baselines for ``season`` from the seasons before it, and their scores.

    Candidates are the sequences of the last observed season (``season - 1``).  Strain picks: the
    candidate closest to that season's consensus; the candidate closest to the amino-acid profile of
    the last ``months`` months before ``season`` (the whole last season if none is dated that
    precisely).  Mutation scores, for every substitution away from the last season's consensus:
    its frequency in the last season, and its rise over the season before.
    """
    prot = proteins(data.seqs) if prot is None else prot
    years = data.years()
    last, prev, target = (np.flatnonzero(years == y) for y in (season - 1, season - 2, season))
    if len(last) == 0 or len(target) == 0:
        raise GenolmError(f"season {season} needs sequences in {season - 1} and {season}",
                          found=f"{len(last)} and {len(target)}")
    cand, tgt = prot[last], prot[target]
    cons = consensus(cand)
    to_target = distances(cand, tgt).mean(1)
    late = [i for i in last if data.dates[i].month is not None and data.dates[i].month > 12 - months]
    profile_rows = prot[late] if late else cand
    freq = frequencies(profile_rows)
    closeness = np.array([sum(freq.get((j, a), 0.0) for j, a in enumerate(row)) for row in cand])
    picks = {"consensus": int(np.argmin(distances(cand, cons[None])[:, 0])),
             f"last {months} months profile": int(np.argmax(closeness))}
    strain = {name: strain_pick_score(to_target, i) for name, i in picks.items()}
    # mutations away from the last season's consensus
    muts = [(j, a) for j in range(len(cons)) for a in AMINO if a != cons[j]]
    truth = np.array([m in sweeps(cons, tgt) for m in muts])
    f_last = frequencies(cand)
    f_prev = frequencies(prot[prev]) if len(prev) else {}
    scores = {"last-season frequency": np.array([f_last.get(m, 0.0) for m in muts]),
              "rise": np.array([f_last.get(m, 0.0) - f_prev.get(m, 0.0) for m in muts])}
    mutation = {name: {"auroc": auroc(s, truth), "precision@10": precision_at(s, truth, 10)}
                for name, s in scores.items()}
    unseen = truth & (scores["last-season frequency"] == 0)
    return {"season": season, "candidates": len(last), "targets": len(target), "strain_pick": strain,
            "mutation_pick": mutation, "sweeps": int(truth.sum()), "sweeps_unseen_last_season": int(unseen.sum()),
            "precision@10_ceiling": min(int(truth.sum()), 10) / 10, "mutations": muts, "truth": truth,
            "to_target": to_target, "candidate_ids": [data.ids[i] for i in last]}
