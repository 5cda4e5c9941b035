"""Mutation effects against the lab: deep mutational scanning as ground truth for ``genolm score``.

Truth files (CSV or TSV, one header line):

* **preferences**: a ``site`` column and one column per amino acid (the 20 letters), each row the
  measured preference of every amino acid at that site (Bloom-lab ``dms_tools2`` output; each row
  sums to 1).  The effect of wild type → a at a site is log(pref[a] / pref[wt]).
* **effects**: columns ``site``, ``mutant`` (one letter) and ``effect`` (higher: better tolerated),
  with an optional ``wildtype`` that is checked against the scored sequence.

A truth site ``s`` is codon ``s + offset`` (1-based) of the scored sequence: the H3 HA of
A/Perth/16/2009 scanned by Lee et al. 2018 starts with a 16-codon signal peptide, so its HA1
site 1 is codon 17 (``--truth-offset 16``).  Sites that are not numbers (H3 numbering has
insertions such as ``133a``) are refused unless a mapping file names their codon.

Baselines, beside the model in every run:

* **frequency table**: the family's amino acids at each position (each family protein aligned to
  the scored protein with edlib), log((n[a] + 1) / (n[wt] + 1)) — site-independent, pseudocount 1;
* **BLOSUM62**: the substitution matrix's score of wt → a.

Agreement is Spearman's rank correlation over every (site, amino acid) pair, and its mean over
sites (within a site: which amino acids a site tolerates, whatever the site's overall importance).

>>> round(spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 40, 30])), 2)
0.8
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.bio.genome_stats import AMINO_ACIDS as AMINO  # the 20, alphabetical
from genolm.errors import GenolmError


@dataclass
class Truth:
    """Measured effects of single amino-acid changes: parallel arrays, one entry per (site, mutant)."""

    path: str
    site: list[str]  # as the file names it
    codon: np.ndarray  # 1-based codon of the scored sequence
    mutant: list[str]
    effect: np.ndarray
    kind: str  # "preferences" | "effects"
    wildtype: list[str | None]  # from the file (effects with a wildtype column), else None


def _reader(path: str):
    text = Path(path).read_text()
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    return csv.reader(text.splitlines(), delimiter=delimiter)


def read_mapping(path: str) -> dict[str, int]:
    """A mapping file: two columns, the truth's site name and the 1-based codon of the scored sequence."""
    out = {}
    for i, row in enumerate(_reader(path), 1):
        if not row or row[0].startswith("#"):
            continue
        if len(row) != 2:
            raise GenolmError("a mapping row needs two columns", file=path, line=i,
                              expected="site, codon", found=",".join(row))
        try:
            out[row[0].strip()] = int(row[1])
        except ValueError:
            if i == 1:  # a header line
                continue
            raise GenolmError("a codon number must be an integer", file=path, line=i, found=row[1]) from None
    return out


def read_truth(path: str, offset: int = 0, mapping: dict[str, int] | None = None,
               wildtype_of=None) -> Truth:
    """Read a preferences or effects file.  ``wildtype_of(codon)``: the scored sequence's amino acid
    at a 1-based codon (None beyond its end); preferences need it for the effect's denominator."""
    if not Path(path).is_file():
        raise GenolmError("no such truth file", file=path)
    rows = list(_reader(path))
    if not rows:
        raise GenolmError("empty truth file", file=path)
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    if "site" not in lower:
        raise GenolmError("a truth file needs a 'site' column", file=path, line=1, found=",".join(header),
                          hint="preferences: site,A,C,…,Y; effects: site,mutant,effect[,wildtype]")
    i_site = lower.index("site")
    prefs = set(AMINO) <= set(header)
    if not prefs and not {"mutant", "effect"} <= set(lower):
        raise GenolmError("unknown truth columns", file=path, line=1, found=",".join(header),
                          expected="site + the 20 amino acids (preferences), or site, mutant, effect")

    def codon_of(site: str, line: int) -> int:
        if mapping is not None and site in mapping:
            return mapping[site]
        try:
            return int(site) + offset
        except ValueError:
            raise GenolmError("a site that is not a number", file=path, line=line, found=repr(site),
                              hint="give a mapping file (site, codon) for insertion codes such as 133a") from None

    def number(text: str, line: int, what: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise GenolmError(f"{what} must be a number", file=path, line=line, found=repr(text)) from None
        if not math.isfinite(x):
            raise GenolmError(f"{what} must be finite", file=path, line=line, found=repr(text))
        return x

    site, codon, mutant, effect, wt_col = [], [], [], [], []
    columns = {a: header.index(a) for a in AMINO} if prefs else None
    for line, row in enumerate(rows[1:], 2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(header):
            raise GenolmError("wrong number of columns", file=path, line=line,
                              expected=str(len(header)), found=str(len(row)))
        s = row[i_site].strip()
        c = codon_of(s, line)
        if prefs:
            p = {a: number(row[j], line, f"preference of {a}") for a, j in columns.items()}
            if any(v < 0 for v in p.values()):
                raise GenolmError("a preference below 0", file=path, line=line, record=s)
            wt = wildtype_of(c) if wildtype_of else None
            if wt not in p:
                raise GenolmError("the truth's site lies outside the scored protein, or at a stop", file=path,
                                  line=line, record=s, found=f"codon {c}: {wt!r}",
                                  hint="check --truth-offset (codons before site 1)")
            floor = min([v for v in p.values() if v > 0], default=1.0) / 10  # a zero preference: below every measured one
            for a in AMINO:
                if a != wt:
                    site.append(s), codon.append(c), mutant.append(a), wt_col.append(None)
                    effect.append(math.log(max(p[a], floor) / max(p[wt], floor)))
        else:
            m = row[lower.index("mutant")].strip().upper()
            if m not in AMINO:
                raise GenolmError("a mutant must be one of the 20 amino acids", file=path, line=line, found=repr(m))
            w = row[lower.index("wildtype")].strip().upper() if "wildtype" in lower else None
            if w is not None and wildtype_of is not None and wildtype_of(c) != w:
                raise GenolmError("the truth's wild type differs from the scored sequence", file=path, line=line,
                                  record=s, expected=f"{wildtype_of(c)!r} at codon {c}", found=repr(w),
                                  hint="check --truth-offset (codons before site 1)")
            site.append(s), codon.append(c), mutant.append(m), wt_col.append(w)
            effect.append(number(row[lower.index("effect")], line, "effect"))
    if not site:
        raise GenolmError("no measurements in the truth file", file=path)
    return Truth(str(path), site, np.array(codon, np.int64), mutant, np.array(effect), "preferences" if prefs else "effects",
                 wt_col)


# ---- baselines -----------------------------------------------------------------------------------

def family_counts(reference: str, proteins: list[str]) -> np.ndarray:
    """(len(reference), 20) counts of each amino acid at each reference position among the
    family proteins, each aligned to the reference (edlib, the protein free to start and end
    anywhere in it); identical proteins are aligned once."""
    import edlib

    counts = np.zeros((len(reference), len(AMINO)), np.int64)
    index = {a: i for i, a in enumerate(AMINO)}
    unique: dict[str, int] = {}
    for p in proteins:
        unique[p] = unique.get(p, 0) + 1
    for p, n in unique.items():
        if not p:
            continue
        hit = edlib.align(p, reference, mode="HW", task="path")
        if hit["editDistance"] < 0 or not hit["locations"]:
            continue
        r = hit["locations"][0][0]
        q = 0
        for length, op in _cigar(hit["cigar"]):
            if op in "=XM":
                for k in range(length):
                    j = index.get(p[q + k])
                    if j is not None:
                        counts[r + k, j] += n
                q, r = q + length, r + length
            elif op == "I":  # in the family protein, not the reference
                q += length
            else:  # "D": reference positions the protein lacks
                r += length
    return counts


def _cigar(cigar: str):
    num = ""
    for ch in cigar:
        if ch.isdigit():
            num += ch
        else:
            yield int(num), ch
            num = ""


def frequency_scores(counts: np.ndarray, codon: np.ndarray, wt: list[str], mutant: list[str],
                     pseudocount: float = 1.0) -> np.ndarray:
    """log((n[a] + pseudocount) / (n[wt] + pseudocount)) at each (1-based codon, wt, mutant)."""
    index = {a: i for i, a in enumerate(AMINO)}
    rows = counts[codon - 1]
    a = np.array([index[m] for m in mutant])
    w = np.array([index[x] for x in wt])
    k = np.arange(len(codon))
    return np.log((rows[k, a] + pseudocount) / (rows[k, w] + pseudocount))


def blosum62(wt: list[str], mutant: list[str]) -> np.ndarray:
    from scoring_matrices import ScoringMatrix

    m = ScoringMatrix.from_name("BLOSUM62")
    return np.array([m[w, a] for w, a in zip(wt, mutant)], float)


# ---- agreement -----------------------------------------------------------------------------------

def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant."""
    from scipy.stats import rankdata

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    rx, ry = rankdata(x[ok]), rankdata(y[ok])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def agreement(truth: Truth, predictions: dict[str, np.ndarray]) -> dict[str, dict]:
    """Spearman over every pair and its mean over sites (sites where it is defined), per predictor."""
    sites = np.array(truth.site)
    out = {}
    for name, pred in predictions.items():
        per_site = {}
        for s in dict.fromkeys(truth.site):
            m = sites == s
            per_site[s] = spearman(pred[m], truth.effect[m])
        defined = [v for v in per_site.values() if np.isfinite(v)]
        out[name] = {"all_pairs": spearman(pred, truth.effect),
                     "mean_per_site": float(np.mean(defined)) if defined else float("nan"),
                     "sites": len(defined), "pairs": int(np.isfinite(pred).sum()), "per_site": per_site}
    return out
